"""Reading Loop Habit Tracker's exports: its CSV zip (v2.3.0 numbers, v2.3.1 words) and its
SQLite backup, into plain records. Formats as iSoron/uhabits writes them:

* CSV zip (`HabitsCSVExporter.kt`): `Habits.csv` from `HabitList.writeCSV` (v2.3.1:
  `Position,Name,Type,…,Archived?`; up to v2.3.0: `Position,Name,Question,Description,
  NumRepetitions,Interval,Color`), and per habit `NNN Name/Checkmarks.csv`, newest day first:
  `Date,Value,Notes` with `Entry.formattedValue` words from v2.3.1, headerless `date,value`
  numbers before. A numerical habit's values are amounts in thousandths.
* backup `.db` (`LoopDBImporter.kt`, migrations 09–25): tables `Habits` and `Repetitions`,
  a repetition's `timestamp` the day's 00:00 UTC in milliseconds. Older backups lack later
  columns (`uuid` from 24, `type` from 16, `value` from 16); they read with Loop's defaults.

Nothing here writes; every problem is InvalidInput naming the file, line or row.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from habitctl.errors import InvalidInput
from habitctl.services.transfer.loop_entries import SKIP, UNKNOWN, WORDS, YES_MANUAL

MAX_MEMBERS = 10_000
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024
LOOP_DB_VERSION = 25  # DATABASE_VERSION in Loop's Constants.kt (v2.3.1)
VALUES = {word: value for value, word in WORDS.items()}
EPOCH = date(1970, 1, 1)


@dataclass
class LoopHabit:
    key: str  # Loop's uuid (backup) or "csv <name>" (the CSV has no ids)
    name: str
    numerator: int
    denominator: int
    numerical: bool = False
    unit: str = ""
    archived: bool = False
    reminder: time | None = None
    exported: bool = True  # False: in Habits.csv, but its history was not exported
    entries: dict[date, int] = field(default_factory=dict)  # Entry values, by day


def _unreadable(what: str) -> InvalidInput:
    return InvalidInput(
        f"the file is not a readable {what} (cut short or damaged?): export it from Loop again",
        field="file",
    )


def _member(archive: zipfile.ZipFile, name: str) -> str:
    try:
        return archive.read(name).decode("utf-8-sig")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise _unreadable("zip archive") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} in the zip is not UTF-8 text", field=name) from None


def _whole(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{where}: {value!r} is not a whole number", field=where) from None


def _checkmarks(text: str, where: str) -> dict[date, int]:
    entries: dict[date, int] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (number == 1 and row[0] == "Date"):
            continue
        line = f"{where} line {number}"
        if len(row) < 2:
            raise InvalidInput(f"{line}: expected Date,Value", field=where)
        try:
            day = date.fromisoformat(row[0])
        except ValueError:
            raise InvalidInput(
                f"{line}: {row[0]!r} is not a date YYYY-MM-DD", field=where
            ) from None
        entries[day] = VALUES[row[1]] if row[1] in VALUES else _whole(row[1], line)
    return entries


def _habit_files(archive: zipfile.ZipFile) -> dict[str, str]:
    """Position ("001") → its Checkmarks.csv, from folder names "%03d %s" (trimmed)."""
    files = {}
    for name in archive.namelist():
        folder, _, leaf = name.rpartition("/")
        if leaf == "Checkmarks.csv" and folder:
            files[folder.split(" ", 1)[0]] = name
    return files


def read_csv_zip(data: bytes) -> list[LoopHabit]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise _unreadable("zip archive") from None
    members = archive.infolist()
    if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
        raise InvalidInput(
            f"the zip unpacks to more than {MAX_MEMBERS} files or "
            f"{MAX_UNZIPPED_BYTES // 2**20} MiB: that is not a Loop export",
            field="file",
        )
    if "Habits.csv" not in archive.namelist():
        raise InvalidInput(
            "the zip has no Habits.csv: habitctl reads Loop Habit Tracker's CSV export "
            "(Loop: Settings → Export as CSV) and habitctl's own JSON backup",
            field="file",
        )
    rows = list(csv.DictReader(io.StringIO(_member(archive, "Habits.csv"))))
    files = _habit_files(archive)
    habits = []
    for number, row in enumerate(rows, start=2):
        where = f"Habits.csv line {number}"
        position, name = row.get("Position") or "", row.get("Name") or ""
        if "FrequencyNumerator" in row:  # v2.3.1 on
            numerator = _whole(row["FrequencyNumerator"] or "", where)
            denominator = _whole(row.get("FrequencyDenominator") or "", where)
        elif "NumRepetitions" in row:  # up to v2.3.0
            numerator = _whole(row["NumRepetitions"] or "", where)
            denominator = _whole(row.get("Interval") or "", where)
        else:
            raise InvalidInput(
                "Habits.csv has neither Loop's v2.3.1 columns nor its older ones",
                field="Habits.csv",
            )
        # Loop lists every habit in Habits.csv but writes folders only for those selected.
        selected = position in files
        entries = (
            _checkmarks(_member(archive, files[position]), files[position]) if selected else {}
        )
        habits.append(
            LoopHabit(
                key=f"csv {name}",
                name=name,
                numerator=numerator,
                denominator=denominator,
                # Before v2.3.1 the type is not written: amounts give a numerical habit away.
                numerical=row.get("Type") == "NUMERICAL"
                or any(v not in (YES_MANUAL, 1, 0, SKIP, UNKNOWN) for v in entries.values()),
                unit=row.get("Unit") or "",
                archived=(row.get("Archived?") or "false").lower() == "true",
                exported=selected,
                entries=entries,
            )
        )
    return habits


def _rows(db: sqlite3.Connection, table: str, wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of `table`, with each wanted column or Loop's default where it is missing."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    columns = ", ".join(
        c if c in present else f"{default!r} AS {c}" for c, default in wanted.items()
    )
    cursor = db.execute(f"SELECT {columns} FROM {table}")  # noqa: S608 — constant names
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def read_backup_db(data: bytes) -> list[LoopHabit]:
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        tables = {
            row[0].lower()
            for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not {"habits", "repetitions"} <= tables:
            raise InvalidInput(
                "the database has no tables Habits and Repetitions: habitctl reads Loop Habit "
                "Tracker's full backup (Loop: Settings → Export full backup)",
                field="file",
            )
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > LOOP_DB_VERSION:
            raise InvalidInput(
                f"the Loop backup has database version {version}; habitctl reads up to "
                f"{LOOP_DB_VERSION} (Loop v2.3.1)",
                field="file",
            )
        habit_rows = _rows(db, "Habits", {
            "id": None, "name": "", "freq_num": 1, "freq_den": 1, "archived": 0, "type": 0,
            "unit": "", "reminder_hour": None, "reminder_min": None, "uuid": None,
            "position": 0,
        })  # fmt: skip
        repetitions = _rows(db, "Repetitions", {"habit": None, "timestamp": None, "value": 2})
    except sqlite3.DatabaseError:
        raise _unreadable("SQLite database") from None
    finally:
        db.close()
    by_habit: dict[Any, dict[date, int]] = {}
    for row in repetitions:
        if not isinstance(row["timestamp"], int) or not isinstance(row["value"], int):
            raise InvalidInput(
                f"Repetitions: a row of habit {row['habit']} is not a day and a value", field="file"
            )
        try:
            day = EPOCH + timedelta(days=row["timestamp"] // 86_400_000)
        except OverflowError:
            raise InvalidInput(
                f"Repetitions: timestamp {row['timestamp']} is out of range", field="file"
            ) from None
        by_habit.setdefault(row["habit"], {})[day] = row["value"]
    habits = []
    for row in sorted(habit_rows, key=lambda r: (r["position"] or 0, r["id"] or 0)):
        hour, minute = row["reminder_hour"], row["reminder_min"]
        reminder = None
        if (
            isinstance(hour, int)
            and isinstance(minute, int)
            and 0 <= hour < 24
            and 0 <= minute < 60
        ):
            reminder = time(hour, minute)
        habits.append(
            LoopHabit(
                key=str(row["uuid"] or f"loop-db {row['id']}"),
                name=str(row["name"] or ""),
                numerator=row["freq_num"] if isinstance(row["freq_num"], int) else 0,
                denominator=row["freq_den"] if isinstance(row["freq_den"], int) else 0,
                numerical=row["type"] == 1,
                unit=str(row["unit"] or ""),
                archived=bool(row["archived"]),
                reminder=reminder,
                entries=by_habit.get(row["id"], {}),
            )
        )
    return habits
