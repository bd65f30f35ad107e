"""Loop Habit Tracker both ways: its CSV zips (v2.3.0 numbers, v2.3.1 words) and its `.db`
backup come in as habits, completions and skips; `export --format loop` writes its layout.

The fixtures under tests/fixtures/loop/ follow iSoron/uhabits (README there names each
source file): HabitsCSVExporter.kt and HabitList.writeCSV at v2.3.0 and v2.3.1, Entry.kt,
and the SQLite schema of its migrations 09–25 (DATABASE_VERSION 25, v2.3.1).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli

FIXTURES = Path(__file__).parent / "fixtures" / "loop"
# HabitList.kt `writeCSV` at v2.3.1 (and at the repository's head), one header row.
LOOP_HABITS_HEADER = (
    b"Position,Name,Type,Question,Description,FrequencyNumerator,FrequencyDenominator,"
    b"Color,Unit,Target Type,Target Value,Archived?\n"
)
LOOP_WORDS = {"YES_MANUAL", "YES_AUTO", "NO", "SKIP", "UNKNOWN"}  # Entry.kt formattedValue


def loop_zip(version: str, target: Path) -> Path:
    """The fixture folder zipped in the order HabitsCSVExporter.writeZipFile adds files."""
    folder = FIXTURES / f"{version}-csv"
    habit_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    names = ["Habits.csv"]
    for habit_dir in habit_dirs:
        names += [f"{habit_dir.name}/Scores.csv", f"{habit_dir.name}/Checkmarks.csv"]
    names += ["Scores.csv", "Checkmarks.csv"]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, (folder / name).read_bytes())
    return target


def loop_db(target: Path) -> Path:
    """A backup made with Loop's own schema (v2.3.1, version 25) and rows."""
    db = sqlite3.connect(target)
    db.executescript((FIXTURES / "loop-v2.3.1-schema.sql").read_text())
    db.executescript((FIXTURES / "loop-v2.3.1-backup-rows.sql").read_text())
    db.execute("PRAGMA user_version = 25")
    db.commit()
    db.close()
    return target


def history(cli: Cli) -> dict[str, set[tuple[str, str]]]:
    """action → {(date, kind)} from the JSON backup."""
    document = cli.ok("export").json()
    actions = {habit["id"]: habit["action"] for habit in document["habits"]}
    result: dict[str, set[tuple[str, str]]] = {action: set() for action in actions.values()}
    for c in document["completions"]:
        result[actions[c["habit_id"]]].add((c["date"], c["kind"]))
    return result


EXPECTED_CSV_HISTORY = {
    "Meditate": {("2026-01-05", "done"), ("2026-01-06", "done"), ("2026-01-07", "skipped"),
                 ("2026-01-09", "done")},
    "Read, slowly": {("2026-01-02", "done"), ("2026-01-04", "done"), ("2026-01-06", "done"),
                     ("2026-01-10", "skipped")},
    "Call mum": {("2026-01-03", "done")},
}  # fmt: skip


@pytest.mark.parametrize("version", ["v2.3.0", "v2.3.1"])
def test_loop_csv_zip_imports_habits_completions_and_skips(
    cli: Cli, tmp_path: Path, version: str
) -> None:
    cli.signup()
    archive = loop_zip(version, tmp_path / "Loop Habits CSV 2026-01-16.zip")
    result = cli.ok("import", str(archive), "--json").json()
    assert result["source"] == "loop-csv"
    # Habits.csv has no "Archived?" column before v2.3.1: Floss comes in from v2.3.0.
    old = version == "v2.3.0"
    floss = {"Floss": {("2026-01-04", "done")}} if old else {}
    assert history(cli) == EXPECTED_CSV_HISTORY | floss
    habits = {h["action"]: h for h in cli.ok("list", "--json").json()}
    assert habits["Meditate"]["periodicity_days"] == 1
    assert habits["Read, slowly"]["periodicity_days"] == 2  # 3 times in 7 days → every 2
    assert habits["Call mum"]["periodicity_days"] == 7  # every 14 days is rarer than R5 allows
    assert {h["place"] for h in habits.values()} == {"anywhere"}
    assert {h["time"] for h in habits.values()} == {"09:00"}
    filled = {(f["name"], f["field"]) for f in result["filled_in"]}
    assert ("Call mum", "periodicity_days") in filled
    assert {("Meditate", "place"), ("Meditate", "time"), ("Meditate", "reward")} <= filled
    assert all("habitctl edit" in f["change"] for f in result["filled_in"])
    refused = {r["name"]: r["reason"] for r in result["refused"]}
    assert set(refused) == ({"Run"} if old else {"Run", "Floss"})
    assert "numeric" in refused["Run"]
    assert old or "archived" in refused["Floss"]
    assert result["completions"]["added"] == 9 + old
    text = cli.ok("import", str(archive)).stdout  # a second import finds everything there
    assert "nothing to change" in text
    assert "Refused" in text
    assert "Run" in text
    assert len(cli.ok("list", "--json").json()) == 3 + old


def test_loop_csv_report_says_what_was_filled_in_and_how_to_change_it(
    cli: Cli, tmp_path: Path
) -> None:
    cli.signup()
    outcome = cli.ok("import", str(loop_zip("v2.3.1", tmp_path / "loop.zip")), "--dry-run")
    assert 'place "anywhere"' in outcome.stdout
    assert "habitctl edit" in outcome.stdout
    assert "--every" in outcome.stdout
    assert cli.ok("list", "--json").json() == []


def test_loop_db_backup_imports_with_its_reminder_times_and_uuids(cli: Cli, tmp_path: Path) -> None:
    cli.signup()
    backup = loop_db(tmp_path / "Loop Habits Backup 2026-01-16 101010.db")
    result = cli.ok("import", str(backup), "--json").json()
    assert result["source"] == "loop-db"
    assert history(cli) == {
        "Meditate": {("2026-01-05", "done"), ("2026-01-06", "done"), ("2026-01-07", "skipped"),
                     ("2026-01-09", "done")},
        "Go to the gym": {("2026-01-05", "done"), ("2026-01-07", "done"),
                          ("2026-01-09", "skipped")},
    }  # fmt: skip
    habits = {h["action"]: h for h in cli.ok("list", "--json").json()}
    assert habits["Meditate"]["time"] == "07:30"  # Loop's own reminder
    assert habits["Go to the gym"]["time"] == "09:00"
    assert habits["Go to the gym"]["periodicity_days"] == 2
    filled = {(f["name"], f["field"]) for f in result["filled_in"]}
    assert ("Meditate", "time") not in filled
    assert ("Go to the gym", "time") in filled
    assert {r["name"] for r in result["refused"]} == {"Run", "Floss"}
    again = cli.ok("import", str(backup), "--json").json()
    assert again["habits"] == {"added": 0, "changed": 0, "unchanged": 2}
    assert again["completions"]["added"] == 0


def test_a_loop_habit_edited_here_is_not_overwritten_by_a_second_import(
    cli: Cli, tmp_path: Path
) -> None:
    cli.signup()
    backup = loop_db(tmp_path / "loop.db")
    cli.ok("import", str(backup))
    meditate = next(h for h in cli.ok("list", "--json").json() if h["action"] == "Meditate")
    cli.ok("edit", str(meditate["id"]), "--place", "the bedroom")
    cli.ok("import", str(backup))
    assert cli.ok("show", str(meditate["id"]), "--json").json()["place"] == "the bedroom"


def test_a_broken_loop_file_is_exit_3_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    cli.signup()
    archive = loop_zip("v2.3.1", tmp_path / "loop.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive.read_bytes()[:300])
    no_habits = tmp_path / "other.zip"
    with zipfile.ZipFile(no_habits, "w") as z:
        z.writestr("Checkmarks.csv", "Date,x,\n")
    not_loop = tmp_path / "not-loop.db"
    sqlite3.connect(not_loop).executescript("CREATE TABLE t (x);")
    half_db = tmp_path / "half.db"
    half_db.write_bytes(loop_db(tmp_path / "whole.db").read_bytes()[:1500])
    for bad, says in (
        (truncated, "not a readable zip"),
        (no_habits, "Habits.csv"),
        (not_loop, "Habits and Repetitions"),
        (half_db, "not a readable"),
    ):
        outcome = cli("import", str(bad))
        assert outcome.exit_code == ExitCode.INVALID_INPUT, (bad, outcome)
        assert says in outcome.stderr, (bad, outcome)
        assert "Traceback" not in outcome.stderr
    assert cli.ok("list", "--json").json() == []


def _populate_with_skips(cli: Cli) -> None:
    cli.signup()
    today = date.today()
    document: dict[str, Any] = {
        "format": "habitctl",
        "version": 2,
        "habits": [
            {"id": 1, "uid": "a", "action": "meditate", "place": "home", "time": "07:30",
             "periodicity_days": 1, "reward": "tea", "created_at": "2025-01-01T00:00:00Z"},
            {"id": 2, "uid": "b", "action": "run, far", "place": "park", "time": "06:00",
             "periodicity_days": 3, "reward": "cake", "created_at": "2025-01-01T00:00:00Z"},
        ],
        "completions": [
            {"habit_id": 1, "date": (today - timedelta(days=n)).isoformat()} for n in (1, 2, 5)
        ]
        + [{"habit_id": 1, "date": (today - timedelta(days=3)).isoformat(), "kind": "skipped"}]
        + [{"habit_id": 2, "date": (today - timedelta(days=n)).isoformat()} for n in (2, 9)],
    }  # fmt: skip
    cli.ok("profile", "--timezone", "UTC")
    cli.ok("import", "-", input=json.dumps(document))


def test_loop_export_is_loops_current_layout_byte_for_byte(cli: Cli, tmp_path: Path) -> None:
    _populate_with_skips(cli)
    target = tmp_path / "loop.zip"
    cli.ok("export", "--format", "loop", "--output", str(target))
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        assert names == [
            "Habits.csv",
            "001 meditate/Scores.csv",
            "001 meditate/Checkmarks.csv",
            "002 run far/Scores.csv",
            "002 run far/Checkmarks.csv",
            "Scores.csv",
            "Checkmarks.csv",
        ]
        habits = archive.read("Habits.csv")
        assert habits.startswith(LOOP_HABITS_HEADER)
        rows = list(csv.reader(io.StringIO(habits.decode())))
        assert rows[1][:3] == ["001", "meditate", "YES_NO"]
        assert rows[2][1] == "run, far"
        assert rows[2][5:7] == ["1", "3"]
        checks = archive.read("001 meditate/Checkmarks.csv").decode()
        assert checks.startswith("Date,Value,Notes\n")
        values = [line.split(",")[1] for line in checks.splitlines()[1:]]
        assert set(values) <= LOOP_WORDS
        assert "SKIP" in values
        assert "YES_MANUAL" in values
        root = archive.read("Checkmarks.csv").decode().splitlines()
        assert root[0] == "Date,meditate,run, far,"  # Loop writes names unquoted here
        assert all(line.endswith(",") for line in root)
        assert root[1].startswith(date.today().isoformat())  # newest first, from today
        scores = archive.read("Scores.csv").decode().splitlines()
        assert len(scores) == len(root)


def test_loop_export_read_back_gives_the_same_history(cli: Cli, tmp_path: Path) -> None:
    _populate_with_skips(cli)
    target = tmp_path / "loop.zip"
    cli.ok("export", "--format", "loop", "--output", str(target))
    expected = history(cli)
    bob = cli.as_user("bob").signup()
    bob.ok("profile", "--timezone", "UTC")
    bob.ok("import", str(target))
    assert history(bob) == expected
    assert {h["periodicity_days"] for h in bob.ok("list", "--json").json()} == {1, 3}


def test_a_habit_loop_did_not_export_is_refused_not_imported_empty(
    cli: Cli, tmp_path: Path
) -> None:
    """Loop writes every habit into Habits.csv but folders only for the selected ones."""
    cli.signup()
    whole = loop_zip("v2.3.1", tmp_path / "whole.zip")
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(partial, "w") as target:
        for name in source.namelist():
            if not name.startswith("003 Call mum/"):
                target.writestr(name, source.read(name))
    result = cli.ok("import", str(partial), "--json").json()
    refused = {r["name"]: r["reason"] for r in result["refused"]}
    assert "not in this export" in refused["Call mum"]
    assert "Call mum" not in history(cli)


def test_uuids_from_loops_migration_24_longer_than_36_still_import_once(
    cli: Cli, tmp_path: Path
) -> None:
    cli.signup()
    backup = loop_db(tmp_path / "loop.db")
    db = sqlite3.connect(backup)
    # 24.sql: `update habits set uuid = lower(hex(randomblob(16) || id))` — 40 characters here.
    db.execute(
        "INSERT INTO Habits (id, archived, color, description, freq_den, freq_num, highlight,"
        " name, position, type, question) VALUES (1234, 0, 1, '', 1, 1, 0, 'Stretch', 4, 0, '')"
    )
    db.execute("UPDATE Habits SET uuid = lower(hex(randomblob(16) || id)) WHERE id = 1234")
    db.execute("INSERT INTO Repetitions (habit, timestamp, value) VALUES (1234, 1767571200000, 2)")
    db.commit()
    db.close()
    cli.ok("import", str(backup))
    assert history(cli)["Stretch"] == {("2026-01-05", "done")}
    again = cli.ok("import", str(backup), "--json").json()
    assert again["habits"] == {"added": 0, "changed": 0, "unchanged": 3}
