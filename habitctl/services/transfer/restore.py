"""Reading a JSON backup back: the whole file is checked before anything is written.

Each habit goes through `HabitCreate` (R1, R2, R4–R6) and then `create_habit` or
`update_habit` (R3, R7, R8), the same layer `habitctl add` and `edit` use; links point at
pleasant habits of the same file. The first problem is named by its path in the file, such
as `habits[3].time` (exit 3). The file's timezone is restored unless the caller keeps the
account's: times of day are local, so a restore into another zone would otherwise move
every reminder.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from habitctl.core import timing
from habitctl.core.schemas import HabitCreate, validate
from habitctl.core.zones import zone
from habitctl.errors import InvalidInput
from habitctl.services.transfer.apply import Incoming, IncomingDay, IncomingHabit
from habitctl.services.transfer.backup import FORMAT, READABLE_VERSIONS, VERSION, derived_uid

KINDS = ("done", "skipped")


def bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", field=field)


def _instant(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise bad(
            field, f"{value!r} is not an ISO 8601 instant with a zone, such as 2026-01-31T07:30:00Z"
        )
    return parsed.astimezone(UTC)


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise bad(key, "must be a list")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(field, "must be an object")
    return value


def parse_document(text: str) -> dict[str, Any]:
    """The file as a habitctl backup of a version we read, else InvalidInput naming why."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            "(cut short? export it again)",
            field="file",
        ) from None
    except RecursionError:
        raise InvalidInput(
            "the file is nested too deeply to be a habitctl backup (a backup is 3 levels deep)",
            field="file",
        ) from None
    document = _object(document, "file")
    if document.get("format") != FORMAT:
        raise bad("format", f'this is not a habitctl export (expected "format": "{FORMAT}")')
    if document.get("version") not in READABLE_VERSIONS:
        raise bad(
            "version",
            f"version {document.get('version')!r} is not supported: this habitctl reads "
            f"versions 1 to {VERSION}; export again with the same habitctl version",
        )
    return document


def file_timezone(document: dict[str, Any]) -> str | None:
    user = document.get("user")
    if user is None:
        return None
    name = _object(user, "user").get("timezone")
    if name is None:
        return None
    try:
        zone(str(name))
    except InvalidInput as exc:
        raise bad("user.timezone", exc.message) from None
    return str(name)


def _habits(document: dict[str, Any], now: datetime) -> tuple[list[IncomingHabit], dict[int, str]]:
    habits: list[IncomingHabit] = []
    uids: dict[int, str] = {}  # the file's id → uid
    username = _object(document.get("user") or {}, "user").get("username", "")
    for i, raw in enumerate(_list(document, "habits")):
        where = f"habits[{i}]"
        values = dict(_object(raw, where))
        file_id = values.pop("id", None)
        if type(file_id) is not int or file_id <= 0 or file_id in uids:
            raise bad(f"{where}.id", f"{file_id!r} is not a new positive whole number")
        created_at = _instant(values.pop("created_at", None), f"{where}.created_at")
        if created_at is not None and created_at > now:
            raise bad(f"{where}.created_at", "lies in the future")
        uid = values.pop("uid", None)
        if uid is None and document["version"] == 1:
            uid = derived_uid("v1", username, file_id, created_at)
        if not isinstance(uid, str) or not 1 <= len(uid) <= 36 or uid in uids.values():
            raise bad(f"{where}.uid", f"{uid!r} is not a new uid of 1 to 36 characters")
        try:
            spec = validate(HabitCreate, values)
        except InvalidInput as exc:
            field = f"{where}.{exc.field}" if exc.field else where
            raise InvalidInput(f"{field}: {exc.message}", field=field) from None
        uids[file_id] = uid
        habits.append(IncomingHabit(uid, where, spec, created_at=created_at))
    pleasant = {h.uid for h in habits if h.spec.is_pleasant}
    for i, habit in enumerate(habits):
        link = habit.spec.linked_habit_id
        if link is None:
            continue
        if link not in uids or uids[link] not in pleasant:
            raise bad(
                f"habits[{i}].linked_habit_id",
                f"habit {link} is not a pleasant habit of this file (R3)",
            )
        habit.link_uid = uids[link]
    return habits, uids


def _days(document: dict[str, Any], uids: dict[int, str], today: date) -> list[IncomingDay]:
    days: dict[tuple[str, date], IncomingDay] = {}
    for j, raw in enumerate(_list(document, "completions")):
        where = f"completions[{j}]"
        entry = _object(raw, where)
        habit_id = entry.get("habit_id")
        if type(habit_id) is not int or habit_id not in uids:
            raise bad(f"{where}.habit_id", f"{habit_id!r} is not a habit of this file")
        try:
            day = date.fromisoformat(str(entry.get("date")))
        except ValueError:
            raise bad(f"{where}.date", "must be a date YYYY-MM-DD") from None
        if day > today:
            raise bad(f"{where}.date", f"{day} lies after today ({today})")
        kind = entry.get("kind", "done")
        if kind not in KINDS:
            raise bad(f"{where}.kind", f'{kind!r} is neither "done" nor "skipped"')
        source = entry.get("source", "import")
        if not isinstance(source, str) or not 1 <= len(source) <= 16:
            raise bad(f"{where}.source", "must be 1 to 16 characters")
        created_at = _instant(entry.get("created_at"), f"{where}.created_at")
        # The same day twice is one row: a day is done or skipped once per habit.
        uid = uids[habit_id]
        days.setdefault((uid, day), IncomingDay(uid, day, kind, source, created_at))
    return list(days.values())


def read_backup(document: dict[str, Any], zone_name: str, now: datetime) -> Incoming:
    """The checked contents of a parsed backup; its dates are local days of `zone_name`."""
    habits, uids = _habits(document, now)
    today = timing.local_date(now, zone(zone_name))
    days = _days(document, uids, today)
    file_ids = {uid: str(file_id) for file_id, uid in uids.items()}
    return Incoming(habits, days, overwrite=True, file_ids=file_ids)
