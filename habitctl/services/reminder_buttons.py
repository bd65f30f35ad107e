"""What a press of a reminder's button records: Done, Later or Skip on one habit's day.

The press has been read and its signature checked (`core.reminder_text.read_button`), so
it is one the bot issued to this chat; here it is checked against the data. A day already
recorded (done or skipped, from any face) is never changed by a button: a second press of
an old button, or a Done on a day skipped, is answered "already recorded" and changes
nothing (`habitctl undo` and `habitctl done` change a day on purpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl.core.reminder_text import DONE, LATER, Press
from habitctl.services import snoozes
from habitctl.services.habits import get_own, mark_done, mark_skipped
from habitctl.storage.models import AppSecret, Completion, User

KEY_NAME = "button_key"
SNOOZED = "snoozed"


class MissingButtonKey(LookupError):
    """The database holds no button key: its schema is older than the daemon's."""


def button_key(db: Session) -> bytes:
    """The key button data is signed with; only the daemon may read it."""
    value = db.scalar(select(AppSecret.value).where(AppSecret.name == KEY_NAME))
    if not value:
        raise MissingButtonKey("no button key: run `habitctl db upgrade`")
    return value.encode()


@dataclass(frozen=True)
class PressOutcome:
    action: str  # the habit's action, for the edited message
    day: date
    recorded: str | None  # what this press recorded: "done", "skipped" or "snoozed"
    already: str | None  # or what had been recorded before it, and so stays
    again_at: datetime | None = None  # when a snoozed reminder comes again


def recorded_kind(db: Session, habit_id: int, day: date) -> str | None:
    return db.scalar(
        select(Completion.kind).where(Completion.habit_id == habit_id, Completion.local_date == day)
    )


def record_press(
    db: Session, user: User, press: Press, now: datetime, delay: timedelta
) -> PressOutcome:
    """Record one press by `user`; NotFound for a habit not theirs (or gone), InvalidInput
    for a day that cannot be recorded (before the habit existed, in the future)."""
    habit = get_own(db, user, press.habit_id, lock=True)  # presses of one habit in turn
    already = recorded_kind(db, habit.id, press.day)
    if already is not None:
        return PressOutcome(habit.action, press.day, None, already)
    if press.kind == LATER:
        row, new = snoozes.snooze(db, habit, press.occurrence, press.day, now, delay)
        if not new:
            return PressOutcome(habit.action, press.day, None, SNOOZED, row.due_at)
        return PressOutcome(habit.action, press.day, SNOOZED, None, row.due_at)
    mark = mark_done if press.kind == DONE else mark_skipped
    completion, _ = mark(db, user, habit.id, press.day, now, source="telegram")
    snoozes.cancel_day(db, habit.id, press.day, now, "recorded")
    return PressOutcome(habit.action, press.day, completion.kind, None)
