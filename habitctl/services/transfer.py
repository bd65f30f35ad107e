"""A user's data in and out: a versioned JSON backup, a Loop-style CSV and an iCalendar file.

JSON is the only format that comes back in. `import_document` checks the whole file before
it writes anything, with the same rules as `habitctl add` (HabitCreate for R1, R2, R4–R6,
`create_habit` for R3), and the caller runs it in one transaction: a bad file changes
nothing, and the error names the entry and field, such as `habits[2].duration_seconds`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl import __version__
from habitctl.core import streaks, timing
from habitctl.core.schemas import HabitCreate, validate
from habitctl.core.zones import zone
from habitctl.errors import InvalidInput
from habitctl.services.habits import create_habit, list_own
from habitctl.services.progress import completions_by_habit, periods_of
from habitctl.storage.models import Completion, Habit, User

FORMAT = "habitctl"
VERSION = 1
# Loop Habit Tracker's checkmark values: YES_MANUAL, YES_AUTO (the frequency covers the day), NO.
LOOP_DONE, LOOP_COVERED, LOOP_NOT_DONE = 2, 1, 0


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def export_document(db: Session, owner: User, now: datetime) -> dict[str, Any]:
    """Everything needed to rebuild the user's habits and history elsewhere."""
    habits = list_own(db, owner)
    completions = db.scalars(
        select(Completion)
        .join(Habit, Habit.id == Completion.habit_id)
        .where(Habit.user_id == owner.id)
        .order_by(Completion.local_date, Completion.habit_id)
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _instant(now),
        "user": {"username": owner.username, "timezone": owner.timezone},
        "habits": [
            {
                "id": habit.id,
                "action": habit.action,
                "place": habit.place,
                "time": f"{habit.time:%H:%M}",
                "periodicity_days": habit.periodicity_days,
                "duration_seconds": habit.duration_seconds,
                "is_pleasant": habit.is_pleasant,
                "reward": habit.reward,
                "linked_habit_id": habit.linked_habit_id,
                "is_public": habit.is_public,
                "created_at": _instant(habit.created_at),
            }
            for habit in habits
        ],
        "completions": [
            {
                "habit_id": c.habit_id,
                "date": c.local_date.isoformat(),
                "source": c.source,
                "created_at": _instant(c.created_at),
            }
            for c in completions
        ],
    }


def export_json(db: Session, owner: User, now: datetime) -> str:
    return json.dumps(export_document(db, owner, now), indent=2, ensure_ascii=False) + "\n"


def export_csv(db: Session, owner: User, now: datetime) -> str:
    """Loop Habit Tracker's Checkmarks.csv: `Date,<habit>,…`, one row per local day.

    Like Loop, rows run from today back to the oldest completion, newest first, dates as
    YYYY-MM-DD, cells 2 (done that day), 1 (not that day, but its period is done) or 0.
    Loop ends every line with a stray comma (an empty last column to a CSV reader); we leave
    it out, so each row has exactly one cell per column.
    """
    habits = list_own(db, owner)
    done = completions_by_habit(db, owner)
    today = timing.local_date(now, zone(owner.timezone))
    oldest = min((min(days) for days in done.values() if days), default=today + timedelta(1))
    days = [today - timedelta(days=n) for n in range((today - oldest).days + 1)]
    values = {streaks.Mark.DONE: LOOP_DONE, streaks.Mark.COVERED: LOOP_COVERED}
    columns = []
    for habit in habits:
        marks = streaks.day_marks(periods_of(habit, owner), done.get(habit.id, set()), today, days)
        columns.append([values.get(marks[day], LOOP_NOT_DONE) for day in days])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", *(habit.action for habit in habits)])
    for row, day in enumerate(days):
        writer.writerow([day.isoformat(), *(column[row] for column in columns)])
    return out.getvalue()


def export_ics(db: Session, owner: User, now: datetime) -> str:
    """The useful habits as recurring events at their local time, every N days."""
    from icalendar import Calendar, Event

    from habitctl.services.progress import first_due

    tz = zone(owner.timezone)
    habits = list_own(db, owner)
    actions = {habit.id: habit.action for habit in habits}
    calendar = Calendar()
    calendar.add("prodid", f"-//habitctl//habitctl {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{owner.username}'s habits")
    calendar.add("x-wr-timezone", owner.timezone)
    for habit in habits:
        if habit.is_pleasant:
            continue
        event = Event()
        event.add("uid", f"habit-{habit.id}.{owner.username}@habitctl")
        event.add("dtstamp", now)
        # Wall-clock time in the owner's zone: calendar apps then keep it across DST changes.
        event.add("dtstart", datetime.combine(first_due(habit, owner), habit.time, tzinfo=tz))
        event.add("duration", timedelta(seconds=habit.duration_seconds))
        event.add("rrule", {"FREQ": "DAILY", "INTERVAL": habit.periodicity_days})
        event.add("summary", f"I will {habit.action} in {habit.place}")
        then = habit.reward or actions.get(habit.linked_habit_id or 0)
        if then:
            event.add("description", f"Then: {then}")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    text: bytes = calendar.to_ical()
    return text.decode()


@dataclass(frozen=True)
class ImportResult:
    habits: int
    completions: int
    ids: dict[int, int]  # id in the file → id in this database


@dataclass(frozen=True)
class _Completion:
    habit_id: int  # the file's id until remapped
    day: date
    source: str
    created_at: datetime | None


@dataclass(frozen=True)
class _Habit:
    file_id: int
    spec: HabitCreate
    created_at: datetime | None


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", field=field)


def _parse_instant(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise _bad(
            field, f"{value!r} is not an ISO 8601 instant with a zone, such as 2026-01-31T07:30:00Z"
        )
    return instant.astimezone(UTC)


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise _bad(key, "must be a list")
    return value


def _entry(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(field, "must be an object")
    return value


def parse_document(text: str) -> dict[str, Any]:
    """The file as a habitctl backup of a version we read, else InvalidInput naming why."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="file",
        ) from None
    document = _entry(document, "file")
    if document.get("format") != FORMAT:
        raise _bad("format", f'this is not a habitctl export (expected "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise _bad(
            "version",
            f"version {document.get('version')!r} is not supported: this habitctl reads "
            f"version {VERSION}; export again with the same habitctl version",
        )
    return document


def _read_habits(document: dict[str, Any], now: datetime) -> list[_Habit]:
    habits: list[_Habit] = []
    seen: set[int] = set()
    for i, raw in enumerate(_list(document, "habits")):
        where = f"habits[{i}]"
        values = dict(_entry(raw, where))
        file_id = values.pop("id", None)
        if type(file_id) is not int or file_id <= 0 or file_id in seen:
            raise _bad(f"{where}.id", f"{file_id!r} is not a new positive whole number")
        seen.add(file_id)
        created_at = _parse_instant(values.pop("created_at", None), f"{where}.created_at")
        if created_at is not None and created_at > now:
            raise _bad(f"{where}.created_at", "lies in the future")
        try:
            spec = validate(HabitCreate, values)
        except InvalidInput as exc:
            field = f"{where}.{exc.field}" if exc.field else where
            raise InvalidInput(f"{field}: {exc.message}", field=field) from None
        habits.append(_Habit(file_id, spec, created_at))
    pleasant = {h.file_id for h in habits if h.spec.is_pleasant}
    for i, habit in enumerate(habits):
        link = habit.spec.linked_habit_id
        if link is not None and link not in pleasant:
            raise _bad(
                f"habits[{i}].linked_habit_id",
                f"habit {link} is not a pleasant habit of this file (R3)",
            )
    return habits


def _read_completions(
    document: dict[str, Any], ids: set[int], today: date
) -> dict[tuple[int, date], _Completion]:
    completions: dict[tuple[int, date], _Completion] = {}
    for j, raw in enumerate(_list(document, "completions")):
        where = f"completions[{j}]"
        entry = _entry(raw, where)
        habit_id = entry.get("habit_id")
        if habit_id not in ids:
            raise _bad(f"{where}.habit_id", f"{habit_id!r} is not a habit of this file")
        try:
            day = date.fromisoformat(str(entry.get("date")))
        except ValueError:
            raise _bad(f"{where}.date", "must be a date YYYY-MM-DD") from None
        if day > today:
            raise _bad(f"{where}.date", f"{day} lies after today ({today})")
        source = entry.get("source", "import")
        if not isinstance(source, str) or not 1 <= len(source) <= 16:
            raise _bad(f"{where}.source", "must be 1 to 16 characters")
        created_at = _parse_instant(entry.get("created_at"), f"{where}.created_at")
        # The same day twice is one completion: `done` is once per habit and day.
        completions.setdefault((habit_id, day), _Completion(habit_id, day, source, created_at))
    return completions


def import_document(db: Session, owner: User, text: str, now: datetime) -> ImportResult:
    """Restore a JSON backup into the owner's account, with new ids; the caller commits."""
    document = parse_document(text)
    habits = _read_habits(document, now)
    today = timing.local_date(now, zone(owner.timezone))
    completions = _read_completions(document, {h.file_id for h in habits}, today)
    index = {h.file_id: i for i, h in enumerate(habits)}
    ids: dict[int, int] = {}
    # Pleasant habits first, so each link can point at its habit's new id.
    for habit in sorted(habits, key=lambda h: not h.spec.is_pleasant):
        link = habit.spec.linked_habit_id
        spec = habit.spec.model_copy(update={"linked_habit_id": ids[link] if link else None})
        try:
            created = create_habit(db, owner, spec, now)
        except InvalidInput as exc:
            field = f"habits[{index[habit.file_id]}].{exc.field}"
            raise InvalidInput(f"{field}: {exc.message}", field=field) from None
        if habit.created_at is not None:
            created.created_at = habit.created_at
        ids[habit.file_id] = created.id
    db.add_all(
        Completion(
            habit_id=ids[c.habit_id],
            local_date=c.day,
            source=c.source,
            created_at=c.created_at or now,
        )
        for c in completions.values()
    )
    db.flush()
    return ImportResult(habits=len(ids), completions=len(completions), ids=ids)
