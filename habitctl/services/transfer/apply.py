"""Writing what a file holds into an account: one path for a habitctl backup and for Loop.

Every habit arrives with a stable uid. A habit whose uid the account already has is the same
habit: a backup (`overwrite`) sets it back to the file's values through `update_habit`, so
R1–R8 hold exactly as for `habitctl edit`; a Loop habit is left as it is here, since its place,
time and reward were chosen here. A day already recorded stays one row (a backup corrects
its kind). Nothing is ever deleted. So a second import of the same file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl.core.schemas import HabitCreate, HabitUpdate
from habitctl.errors import HabitctlError
from habitctl.services.habits import (
    as_spec,
    create_habit,
    delete_completion,
    list_own,
    update_habit,
)
from habitctl.services.transfer.report import FilledIn, ImportReport
from habitctl.storage.models import Completion, Habit, User

MAX_LISTED_CHANGES = 200


@dataclass(frozen=True)
class Fill:
    field: str
    value: str
    why: str
    option: str  # `habitctl edit ID <option>` sets it otherwise


@dataclass
class IncomingHabit:
    uid: str
    where: str  # how an error names it: "habits[3]", or the source's name for it
    spec: HabitCreate  # linked_habit_id is the file's id, resolved through `link_uid`
    link_uid: str | None = None
    created_at: datetime | None = None
    fills: list[Fill] = field(default_factory=list)


@dataclass(frozen=True)
class IncomingDay:
    uid: str
    day: date
    kind: str  # "done" or "skipped"
    source: str
    created_at: datetime | None = None


@dataclass
class Incoming:
    habits: list[IncomingHabit]
    days: list[IncomingDay]
    overwrite: bool  # a backup is the truth about its habits; Loop only adds history
    file_ids: dict[str, str] = field(default_factory=dict)  # uid → the file's id, for the report


def _at(where: str, error: HabitctlError) -> HabitctlError:
    """The same error, naming the entry of the file it came from."""
    name = f"{where}.{error.field}" if error.field else where
    error.message = f"{name}: {error.message}"
    error.field = name
    error.args = (error.message,)
    return error


def _note(report: ImportReport, line: str) -> None:
    if len(report.changes) < MAX_LISTED_CHANGES:
        report.changes.append(line)
    elif len(report.changes) == MAX_LISTED_CHANGES:
        report.changes.append("… and more")


def _differences(before: HabitCreate, after: HabitCreate) -> str:
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return ", ".join(f"{key} {old[key]} → {new[key]}" for key in new if old[key] != new[key])


def _habit(
    db: Session, owner: User, incoming: IncomingHabit, current: Habit | None,
    spec: HabitCreate, overwrite: bool, now: datetime, report: ImportReport,
) -> Habit:  # fmt: skip
    if current is None:
        habit = create_habit(db, owner, spec, now)
        habit.uid = incoming.uid
        if incoming.created_at is not None:
            habit.created_at = incoming.created_at
        report.habits.added += 1
        _note(report, f"+ habit {spec.action}")
        for fill in incoming.fills:
            report.filled_in.append(
                FilledIn(
                    habit.id,
                    spec.action,
                    fill.field,
                    fill.value,
                    fill.why,
                    f"habitctl edit {habit.id} {fill.option}",
                )
            )
        return habit
    before = as_spec(current)
    if not overwrite or before.model_dump() == spec.model_dump():
        report.habits.unchanged += 1
        return current
    update_habit(db, owner, current.id, HabitUpdate(**spec.model_dump()), now)
    report.habits.changed += 1
    _note(report, f"~ habit {current.id} {spec.action}: {_differences(before, spec)}")
    return current


def _completion(habit_id: int, day: IncomingDay, now: datetime) -> Completion:
    return Completion(
        habit_id=habit_id,
        local_date=day.day,
        kind=day.kind,
        source=day.source,
        created_at=day.created_at or now,
    )


def apply(
    db: Session, owner: User, incoming: Incoming, now: datetime, report: ImportReport
) -> None:
    """Create or update the habits, then add the days; errors name the file's entry."""
    existing = {habit.uid: habit for habit in list_own(db, owner) if habit.uid}
    ids: dict[str, int] = {}
    names: dict[str, str] = {}
    # Pleasant habits first, so each link can point at its habit's id here.
    for incoming_habit in sorted(incoming.habits, key=lambda h: not h.spec.is_pleasant):
        link = ids[incoming_habit.link_uid] if incoming_habit.link_uid else None
        spec = incoming_habit.spec.model_copy(update={"linked_habit_id": link})
        try:
            habit = _habit(
                db, owner, incoming_habit, existing.get(incoming_habit.uid), spec,
                incoming.overwrite, now, report,
            )  # fmt: skip
        except HabitctlError as error:
            raise _at(incoming_habit.where, error) from None
        ids[incoming_habit.uid] = habit.id
        names[incoming_habit.uid] = habit.action
        if incoming_habit.uid in incoming.file_ids:
            report.ids[incoming.file_ids[incoming_habit.uid]] = habit.id
    recorded = {
        (c.habit_id, c.local_date): c
        for c in db.scalars(select(Completion).where(Completion.habit_id.in_(ids.values())))
    }
    for day in sorted(incoming.days, key=lambda d: (d.day, d.uid)):
        habit_id = ids[day.uid]
        current = recorded.get((habit_id, day.day))
        label = f"completion {names[day.uid]} {day.day}"
        if current is None:
            db.add(_completion(habit_id, day, now))
            report.completions.added += 1
            _note(report, f"+ {label} ({day.kind})")
        elif incoming.overwrite and current.kind != day.kind:
            _note(report, f"~ {label}: {current.kind} → {day.kind}")
            # Replaced, not updated: members may insert and delete completions, not edit them.
            delete_completion(db, current)
            db.add(_completion(habit_id, day, now))
            report.completions.changed += 1
        else:
            report.completions.unchanged += 1
    db.flush()
