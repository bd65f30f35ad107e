"""Snoozes: "Later" on a reminder is one more due instant of the same occurrence.

A snooze is a row (`reminder_snoozes`, one per habit and occurrence: "Later" works once)
that is due at `due_at`. The daemon sends it the way it sends any reminder: `claim_due`
leases the *habit* (the same lease columns, `FOR UPDATE SKIP LOCKED`, so a habit is never
in two sends at once and an expired lease makes it due again), the caller commits, sends
with no transaction open, and records a delivery unique per habit, occurrence and snooze.
That delivery is what marks the snooze sent: a crash between Telegram's answer and the
record repeats it at most once, like any reminder (the documented duplicate window).

A snooze whose day was recorded meanwhile (done or skipped, from any face), whose habit
was edited (its `updated_at` moved on), whose chat is gone, or that is older than the
catch-up grace, is cancelled when it comes due instead of sent. Deleting the habit deletes
its snoozes (the foreign key cascades).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, String, and_, exists, or_, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from habitctl.core.reminder_text import reminder_text
from habitctl.services import reminder_records
from habitctl.services.reminders import DueReminder
from habitctl.storage.models import (
    Completion,
    Habit,
    ReminderDelivery,
    ReminderSnooze,
    User,
    UserContact,
)

SNOOZE = 1  # the delivery number of a snooze's re-send (0 is the reminder itself)


def snooze(
    db: Session, habit: Habit, occurrence: datetime, day: date, now: datetime, delay: timedelta
) -> tuple[ReminderSnooze, bool]:
    """Plan the occurrence's reminder again `delay` from now; False when it already was."""
    existing = find(db, habit.id, occurrence)
    if existing is not None:
        return existing, False
    row = ReminderSnooze(
        habit_id=habit.id,
        occurrence_at=occurrence,
        local_date=day,
        due_at=now + delay,
        habit_updated_at=habit.updated_at,
        created_at=now,
    )
    try:
        with db.begin_nested():  # two presses at once: the unique key keeps one
            db.add(row)
        return row, True
    except IntegrityError:
        existing = find(db, habit.id, occurrence)
        assert existing is not None
        return existing, False


def find(db: Session, habit_id: int, occurrence: datetime) -> ReminderSnooze | None:
    return db.scalar(
        select(ReminderSnooze).where(
            ReminderSnooze.habit_id == habit_id, ReminderSnooze.occurrence_at == occurrence
        )
    )


def snoozed(db: Session, habit_ids: list[int]) -> set[tuple[int, datetime]]:
    """(habit, occurrence) pairs that used their "Later" already."""
    rows = db.execute(
        select(ReminderSnooze.habit_id, ReminderSnooze.occurrence_at).where(
            ReminderSnooze.habit_id.in_(habit_ids)
        )
    )
    return {(row[0], row[1]) for row in rows}


def cancel_day(db: Session, habit_id: int, day: date, now: datetime, reason: str) -> None:
    """The day was recorded: whatever is still planned for it will not go."""
    db.execute(
        update(ReminderSnooze)
        .where(
            ReminderSnooze.habit_id == habit_id,
            ReminderSnooze.local_date == day,
            ReminderSnooze.due_at.is_not(None),
        )
        .values(due_at=None, outcome=reason, finished_at=now)
        .execution_options(synchronize_session=False)
    )


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(Habit.lease_until.is_(None), Habit.lease_until < now)


def claim_due(
    db: Session,
    replica: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    grace: timedelta,
) -> tuple[list[DueReminder], dict[int, str]]:
    """Lease the habits of due snoozes and make each one ready, or finish it unsent.

    Returns the reminders to send (one per habit) and, for the log, why others were
    cancelled. The caller commits at once, as for `reminders.claim_due`.
    """
    if limit <= 0:
        return [], {}
    due = (
        select(Habit.id)
        .join(ReminderSnooze, ReminderSnooze.habit_id == Habit.id)
        .where(ReminderSnooze.due_at <= now, _lease_free(now))
        .order_by(ReminderSnooze.due_at)
        .limit(limit)
        .with_for_update(of=Habit, skip_locked=True)
    )
    leased = db.scalars(
        update(Habit)
        .where(Habit.id.in_(due.scalar_subquery()), _lease_free(now))
        .values(lease_owner=replica, lease_until=now + lease)
        .returning(Habit.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not leased:
        return [], {}
    ready: dict[int, DueReminder] = {}
    finished: dict[int, str] = {}
    for row in _details(db, list(leased), now):
        if row.habit_id in ready:
            continue  # one send per habit and lease; the next snooze waits for the next claim
        outcome = _why_not(row, now, grace)
        if outcome is None:
            try:
                ready[row.habit_id] = _reminder(row)
                continue
            except Exception as exc:  # bad stored data: this snooze only, never the others
                outcome = f"unreadable: {type(exc).__name__}: {exc}"[:64]
        finished[row.id] = outcome
    for outcome in set(finished.values()):
        db.execute(
            update(ReminderSnooze)
            .where(ReminderSnooze.id.in_([k for k, v in finished.items() if v == outcome]))
            .values(due_at=None, outcome=outcome, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    idle = [habit_id for habit_id in leased if habit_id not in ready]
    if idle:
        reminder_records.release(db, replica, idle)
    cancelled = {row_id: why for row_id, why in finished.items() if why != "sent"}
    return list(ready.values()), cancelled


def _details(db: Session, habit_ids: list[int], now: datetime) -> Sequence[Any]:
    linked = aliased(Habit)
    snooze_row = ReminderSnooze
    return db.execute(
        select(
            snooze_row.id,
            snooze_row.habit_id,
            snooze_row.occurrence_at,
            snooze_row.local_date,
            snooze_row.due_at,
            (Habit.updated_at == snooze_row.habit_updated_at).label("unedited"),
            Habit.user_id,
            Habit.action,
            Habit.place,
            type_coerce(Habit.time, String).label("time"),
            Habit.duration_seconds,
            Habit.reward,
            linked.action.label("linked_action"),
            UserContact.telegram_chat_id,
            UserContact.telegram_unreachable_at,
            exists()
            .where(
                Completion.habit_id == snooze_row.habit_id,
                Completion.local_date == snooze_row.local_date,
            )
            .label("recorded"),
            exists()
            .where(
                ReminderDelivery.habit_id == snooze_row.habit_id,
                ReminderDelivery.occurrence_at == snooze_row.occurrence_at,
                ReminderDelivery.snooze == SNOOZE,
            )
            .label("delivered"),
        )
        .join(Habit, Habit.id == snooze_row.habit_id)
        .join(User, User.id == Habit.user_id)
        .outerjoin(UserContact, UserContact.user_id == Habit.user_id)
        .outerjoin(linked, linked.id == Habit.linked_habit_id)
        .where(and_(snooze_row.habit_id.in_(habit_ids), snooze_row.due_at <= now))
        .order_by(snooze_row.due_at)
    ).all()


def _why_not(row: Row[Any], now: datetime, grace: timedelta) -> str | None:
    """Why a due snooze is finished without a send, or None to send it."""
    if row.delivered:
        return "sent"  # recorded by the last send: only its row is left to close
    if row.recorded:
        return "recorded"
    if not row.unedited:
        return "edited"
    if row.telegram_chat_id is None or row.telegram_unreachable_at is not None:
        return "unreachable"
    if now - row.due_at > grace:
        return "stale"
    return None


def _reminder(row: Row[Any]) -> DueReminder:
    at = time.fromisoformat(str(row.time))
    occurrence = row.occurrence_at
    # `leased_at` = `following`: recording it leaves `next_reminder_at` where it is.
    return DueReminder(
        habit_id=row.habit_id,
        user_id=row.user_id,
        leased_at=occurrence,
        occurrence=occurrence,
        following=occurrence,
        skipped=None,
        due_now=True,
        chat_id=row.telegram_chat_id,
        text=reminder_text(
            at, row.action, row.place, row.duration_seconds, row.reward, row.linked_action
        ),
        local_day=row.local_date,
        snooze=SNOOZE,
    )
