"""Habits: create, read, edit, delete and complete, with R3 and R8 (the rules that need data).

Visibility is decided here and only here: a user's own habits, plus anybody's public habit
for reading. Anything else is NotFound, exactly like a missing id.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from habitctl.core import timing
from habitctl.core.schemas import HabitCreate, HabitUpdate, HabitView
from habitctl.core.zones import zone
from habitctl.errors import Conflict, InvalidInput, NotFound
from habitctl.storage.models import Completion, Habit, User


def _not_found(habit_id: int) -> NotFound:
    return NotFound(f"habit {habit_id} not found: `habitctl list` shows your habits", field="id")


def as_spec(habit: Habit) -> HabitCreate:
    """The stored habit as the validation model, to merge edits into."""
    return HabitCreate.model_construct(
        action=habit.action,
        place=habit.place,
        time=habit.time,
        periodicity_days=habit.periodicity_days,
        duration_seconds=habit.duration_seconds,
        is_pleasant=habit.is_pleasant,
        reward=habit.reward,
        linked_habit_id=habit.linked_habit_id,
        is_public=habit.is_public,
    )


def view(habit: Habit, now: datetime, viewer: User | None = None) -> HabitView:
    """The habit as `--json` prints it, for `viewer` (None: nobody logged in).

    The next reminder is never in the past (with no daemon running the stored one falls
    behind): it is the next occurrence still to come. Another person's habit shows a linked
    habit's id only when that habit is public too, as the HTTP endpoint does.
    """
    linked_id = habit.linked_habit_id
    if linked_id is not None and (viewer is None or viewer.id != habit.user_id):
        linked = habit.linked_habit
        if linked is None or not linked.is_public:
            linked_id = None
    return HabitView(
        id=habit.id,
        owner=habit.owner.username,
        action=habit.action,
        place=habit.place,
        time=f"{habit.time:%H:%M}",
        timezone=habit.owner.timezone,
        periodicity_days=habit.periodicity_days,
        duration_seconds=habit.duration_seconds,
        is_pleasant=habit.is_pleasant,
        reward=habit.reward,
        linked_habit_id=linked_id,
        is_public=habit.is_public,
        next_reminder_at=_upcoming(habit, now),
        created_at=habit.created_at,
        updated_at=habit.updated_at,
    )


def _upcoming(habit: Habit, now: datetime) -> datetime | None:
    if habit.next_reminder_at is None:
        return None
    return timing.upcoming_occurrence(
        habit.time,
        zone(habit.owner.timezone),
        habit.periodicity_days,
        habit.next_reminder_at,
        now,
    )


def next_reminder(spec: HabitCreate, owner: User, now: datetime) -> datetime | None:
    if spec.is_pleasant:
        return None
    return timing.first_occurrence(spec.time, zone(owner.timezone), now)


def _check_link(db: Session, owner: User, spec: HabitCreate, habit_id: int | None) -> None:
    """R3: the linked habit exists, is the owner's own, and is pleasant."""
    if spec.linked_habit_id is None:
        return
    if spec.linked_habit_id == habit_id:
        raise InvalidInput("a habit cannot be linked to itself (R3)", field="linked_habit_id")
    linked = db.get(Habit, spec.linked_habit_id)
    if linked is None or linked.user_id != owner.id:
        raise InvalidInput(
            f"linked habit {spec.linked_habit_id} is not one of your habits (R3)",
            field="linked_habit_id",
        )
    if not linked.is_pleasant:
        raise InvalidInput(
            f"linked habit {spec.linked_habit_id} is not pleasant: only a pleasant habit can "
            "follow a useful one (R3)",
            field="linked_habit_id",
        )


def _linking_ids(db: Session, habit: Habit) -> list[int]:
    return list(
        db.scalars(select(Habit.id).where(Habit.linked_habit_id == habit.id).order_by(Habit.id))
    )


def refuse_if_linked(db: Session, habit: Habit, doing: str) -> None:
    """R8: a pleasant habit others link to cannot be deleted or made useful."""
    linking = _linking_ids(db, habit)
    if linking:
        names = ", ".join(str(i) for i in linking)
        they = f"habit {names} links" if len(linking) == 1 else f"habits {names} link"
        raise Conflict(
            f"habit {habit.id} cannot be {doing}: {they} to it (R8). "
            f"Unlink first: `habitctl edit {linking[0]} --no-link --reward TEXT`",
            field="id",
        )


def create_habit(db: Session, owner: User, spec: HabitCreate, now: datetime) -> Habit:
    _check_link(db, owner, spec, None)
    habit = Habit(
        user_id=owner.id,
        **spec.model_dump(),
        next_reminder_at=next_reminder(spec, owner, now),
        created_at=now,
        updated_at=now,
    )
    habit.owner = owner
    db.add(habit)
    db.flush()
    return habit


def _visible(query: Select[Habit], viewer: User | None) -> Select[Habit]:
    if viewer is None:
        return query.where(Habit.is_public)
    return query.where((Habit.user_id == viewer.id) | Habit.is_public)


def get_visible(db: Session, viewer: User | None, habit_id: int) -> Habit:
    """The viewer's own habit or anybody's public one."""
    query = (
        select(Habit)
        .options(joinedload(Habit.owner), joinedload(Habit.linked_habit))
        .where(Habit.id == habit_id)
    )
    habit = db.scalar(_visible(query, viewer))
    if habit is None:
        raise _not_found(habit_id)
    return habit


def get_own(db: Session, owner: User, habit_id: int, *, lock: bool = False) -> Habit:
    query = select(Habit).where(Habit.id == habit_id, Habit.user_id == owner.id)
    if lock:
        query = query.with_for_update()
    habit = db.scalar(query)
    if habit is None:
        raise _not_found(habit_id)
    habit.owner = owner
    return habit


def list_own(db: Session, owner: User) -> list[Habit]:
    habits = list(db.scalars(select(Habit).where(Habit.user_id == owner.id).order_by(Habit.id)))
    for habit in habits:
        habit.owner = owner
    return habits


def list_public(db: Session, *, after_id: int = 0, limit: int = 20) -> list[Habit]:
    """Public habits of every user in id order, keyset-paginated after `after_id`."""
    return list(
        db.scalars(
            select(Habit)
            .options(joinedload(Habit.owner))
            .where(Habit.is_public, Habit.id > after_id)
            .order_by(Habit.id)
            .limit(limit)
        )
    )


def list_public_page(db: Session, *, page: int, per_page: int) -> list[Habit]:
    return list(
        db.scalars(
            select(Habit)
            .options(joinedload(Habit.owner), joinedload(Habit.linked_habit))
            .where(Habit.is_public)
            .order_by(Habit.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )


def update_habit(
    db: Session, owner: User, habit_id: int, changes: HabitUpdate, now: datetime
) -> Habit:
    """Apply an edit validated on the merged result (R7); a refused edit changes nothing."""
    habit = get_own(db, owner, habit_id, lock=True)
    if habit.is_pleasant and changes.is_pleasant is False:
        refuse_if_linked(db, habit, "made useful")
    merged = changes.merged_with(as_spec(habit))
    _check_link(db, owner, merged, habit.id)
    reschedule = (merged.time, merged.periodicity_days, merged.is_pleasant) != (
        habit.time,
        habit.periodicity_days,
        habit.is_pleasant,
    )
    for key, value in merged.model_dump().items():
        setattr(habit, key, value)
    if reschedule:
        habit.next_reminder_at = next_reminder(merged, owner, now)
    habit.updated_at = now
    db.flush()
    return habit


def delete_habit(db: Session, owner: User, habit_id: int) -> None:
    habit = get_own(db, owner, habit_id, lock=True)
    refuse_if_linked(db, habit, "deleted")
    if db.get_bind().dialect.name == "postgresql":
        # Members hold no DELETE on the table (it would let them LOCK it): a definer
        # function deletes their own habit, checking R8 again under its row lock.
        db.execute(select(func.habitctl_delete_habit(habit_id)))
        db.expunge(habit)
        return
    db.delete(habit)
    try:
        db.flush()
    except IntegrityError as exc:  # a link added concurrently; the FK says RESTRICT
        raise Conflict(f"habit {habit_id} is linked by another habit (R8)", field="id") from exc


def reschedule_all(db: Session, owner: User, now: datetime) -> None:
    """After a timezone change: every useful habit's next reminder at its new local time."""
    for habit in list_own(db, owner):
        habit.next_reminder_at = next_reminder(as_spec(habit), owner, now)
        habit.updated_at = now


# What a day of a habit can hold (`completions.kind`).
DONE, SKIPPED = "done", "skipped"


def first_day(habit: Habit, owner: User) -> date:
    """The owner's local day the habit was created: nothing can be recorded before it."""
    return timing.local_date(habit.created_at, zone(owner.timezone))


def _day_of(habit: Habit, owner: User, day: date | None, now: datetime) -> date:
    """`day` (default: the owner's today) if the habit existed then and it is not future."""
    today = timing.local_date(now, zone(owner.timezone))
    day = day or today
    if day > today:
        raise InvalidInput(
            f"{day} is in the future: you can only record days up to {today}", field="date"
        )
    created = first_day(habit, owner)
    if day < created:
        raise InvalidInput(
            f"{day} is before habit {habit.id} existed: it was created on {created}, so "
            f"record days from {created} to {today}",
            field="date",
        )
    return day


def _recorded(db: Session, habit_id: int, day: date) -> Completion | None:
    return db.scalar(
        select(Completion).where(Completion.habit_id == habit_id, Completion.local_date == day)
    )


def _record(
    db: Session, owner: User, habit_id: int, day: date | None, now: datetime, kind: str, source: str
) -> tuple[Completion, bool]:
    habit = get_own(db, owner, habit_id)
    day = _day_of(habit, owner, day, now)
    existing = _recorded(db, habit.id, day)
    if existing is None:
        completion = Completion(
            habit_id=habit.id, local_date=day, source=source, kind=kind, created_at=now
        )
        try:
            with db.begin_nested():  # the button and the CLI may race for the same day
                db.add(completion)
            return completion, True
        except IntegrityError:
            existing = _recorded(db, habit.id, day)
            assert existing is not None
    if existing.kind == kind:
        return existing, False
    if kind == DONE:  # done after all on a day skipped: the better record wins
        # Replaced, not updated: members may add and remove their days, never rewrite one.
        delete_completion(db, existing)
        completion = Completion(
            habit_id=habit.id, local_date=day, source=source, kind=kind, created_at=now
        )
        db.add(completion)
        db.flush()
        return completion, True
    raise Conflict(
        f"habit {habit.id} is already done on {day}; a skip would erase that. "
        f"To change it, run `habitctl undo {habit.id} --date {day}` first",
        field="date",
    )


def delete_completion(db: Session, completion: Completion) -> None:
    """Remove one recorded day. On PostgreSQL members hold no DELETE on the table (it would let
    them LOCK it), so a definer function removes their own row."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(
            select(func.habitctl_delete_completion(completion.habit_id, completion.local_date))
        )
        db.expunge(completion)
        return
    db.delete(completion)
    db.flush()


def mark_done(
    db: Session, owner: User, habit_id: int, day: date | None, now: datetime, source: str = "cli"
) -> tuple[Completion, bool]:
    """Record the habit done on a local day (default: the owner's today).

    Returns the completion and whether it is new (once per habit and local day). A day
    skipped before becomes a done one.
    """
    return _record(db, owner, habit_id, day, now, DONE, source)


def mark_skipped(
    db: Session, owner: User, habit_id: int, day: date | None, now: datetime, source: str = "cli"
) -> tuple[Completion, bool]:
    """Record a day skipped on purpose: it neither breaks nor extends a streak."""
    return _record(db, owner, habit_id, day, now, SKIPPED, source)


def undo_day(
    db: Session, owner: User, habit_id: int, day: date | None, now: datetime
) -> tuple[date, str | None]:
    """Take back what was recorded on a local day; returns the day and the kind removed."""
    habit = get_own(db, owner, habit_id)
    today = timing.local_date(now, zone(owner.timezone))
    day = day or today
    existing = _recorded(db, habit.id, day)
    if existing is None:
        return day, None
    kind = existing.kind
    delete_completion(db, existing)
    return day, kind
