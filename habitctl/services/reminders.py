"""Due reminders: lease them, decide send or skip, one habit at a time.

The daemon works as the PostgreSQL job queues do (procrastinate, River, Oban): `claim_due`
picks due habits (`FOR UPDATE SKIP LOCKED`, so replicas take disjoint sets), marks them
leased by this replica until a deadline, and the caller commits at once; the sends happen
with no transaction open, and `reminder_records` writes each outcome in a short transaction
of its own. A habit whose lease ran out (its replica died) is due again.

`prepare` turns one claimed row into what to send, computing everything that could fail on
bad data (the zone, the next occurrence, the text) before anything is sent, so bad data
sets that one habit aside instead of failing after Telegram accepted a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from habitctl.core import timing
from habitctl.core.reminder_text import reminder_text
from habitctl.core.zones import zone
from habitctl.storage.models import Habit, User, UserContact

# Instants the scheduling maths can step from: psycopg2 reads '-infinity' as year 1 and
# 'infinity' as year 9999, where one day more overflows.
EARLIEST, LATEST = datetime(1800, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


class BadReminderData(ValueError):
    """A stored value the daemon cannot schedule from; the habit is set aside with it."""


@dataclass(frozen=True)
class ClaimedHabit:
    """One leased habit as stored: nothing interpreted yet (that may fail: see `prepare`)."""

    habit_id: int
    user_id: int
    row: Any  # a result Row: read by name in `prepare`


@dataclass(frozen=True)
class DueReminder:
    """A leased habit made ready: what to send (or not), and where it goes next."""

    habit_id: int
    user_id: int
    leased_at: datetime  # the stored occurrence the lease was taken for: the record's guard
    occurrence: datetime  # the one to send now (after any catch-up), or the next to come
    following: datetime  # next_reminder_at once this one is handled
    skipped: datetime | None  # the stale occurrence a catch-up passed over, if any
    due_now: bool  # False when the catch-up landed on an occurrence still to come
    chat_id: int | None
    text: str
    local_day: date
    snooze: int = 0  # 0 the reminder itself; 1 its re-send after "Later" (services.snoozes)


def database_now(db: Session) -> datetime:
    """The database's clock, so replicas with skewed clocks agree on what is due."""
    if db.get_bind().dialect.name == "sqlite":
        return datetime.now(UTC)  # one daemon per SQLite file, on this machine
    value = db.scalar(select(func.now()))
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        Habit.next_reminder_at <= now,
        or_(Habit.lease_until.is_(None), Habit.lease_until < now),
    )


def claim_due(
    db: Session, replica: str, now: datetime, limit: int, lease: timedelta
) -> list[ClaimedHabit]:
    """Lease up to `limit` due habits that nobody holds, oldest first. The caller commits."""
    due = (
        select(Habit.id)
        .where(_claimable(now))
        .order_by(Habit.next_reminder_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = db.scalars(
        update(Habit)
        .where(Habit.id.in_(due.scalar_subquery()), _claimable(now))
        .values(lease_owner=replica, lease_until=now + lease)
        .returning(Habit.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return []
    linked = aliased(Habit)
    rows = db.execute(
        select(
            Habit.id,
            Habit.user_id,
            Habit.action,
            Habit.place,
            # As text, read in `prepare`: one unreadable value must not fail the whole claim.
            type_coerce(Habit.time, String).label("time"),
            Habit.periodicity_days,
            Habit.duration_seconds,
            Habit.reward,
            type_coerce(Habit.next_reminder_at, String).label("next_reminder_at"),
            User.timezone,
            UserContact.telegram_chat_id,
            UserContact.telegram_unreachable_at,
            linked.action.label("linked_action"),
        )
        .join(User, User.id == Habit.user_id)
        .outerjoin(UserContact, UserContact.user_id == Habit.user_id)
        .outerjoin(linked, linked.id == Habit.linked_habit_id)
        .where(Habit.id.in_(ids))
        .order_by(Habit.next_reminder_at)
    ).all()
    return [ClaimedHabit(row.id, row.user_id, row) for row in rows]


def _instant(text: str) -> datetime:
    """A stored instant read back as text (PostgreSQL prints '-infinity', SQLite ISO 8601)."""
    try:
        value = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError as exc:
        raise BadReminderData(f"next reminder instant {text[:40]!r} is out of range") from exc
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value <= LATEST:
        raise BadReminderData(f"next reminder instant {text[:40]!r} is out of range")
    return value


def prepare(claimed: ClaimedHabit, now: datetime, grace: timedelta) -> DueReminder:
    """What to do with one leased habit; raises on data that cannot be scheduled from.

    A reminder overdue by more than `grace` is skipped, and the habit jumps straight to the
    first occurrence no older than `grace` (`timing.first_occurrence_from`): one "skipped"
    record per catch-up, the same cost after a day's downtime or a century's.
    """
    row = claimed.row
    leased_at = _instant(str(row.next_reminder_at))
    at = time.fromisoformat(str(row.time))
    tz = zone(str(row.timezone))
    occurrence, skipped = leased_at, None
    if now - leased_at > grace:
        skipped = leased_at
        occurrence = timing.first_occurrence_from(
            at, tz, row.periodicity_days, leased_at, now - grace
        )
    reachable = row.telegram_unreachable_at is None
    return DueReminder(
        habit_id=claimed.habit_id,
        user_id=claimed.user_id,
        leased_at=leased_at,
        occurrence=occurrence,
        following=timing.next_occurrence(at, tz, row.periodicity_days, occurrence),
        skipped=skipped,
        due_now=occurrence <= now,
        chat_id=row.telegram_chat_id if reachable else None,
        text=reminder_text(
            at, row.action, row.place, row.duration_seconds, row.reward, row.linked_action
        ),
        local_day=timing.scheduled_date(occurrence, at, tz),
    )


@dataclass(frozen=True)
class SetAside:
    """A habit whose reminders the daemon set aside, and why (for its owner to see)."""

    habit_id: int
    reason: str
    since: datetime | None


def set_aside_habits(db: Session, user_id: int) -> list[SetAside]:
    rows = db.execute(
        select(Habit.id, Habit.reminder_error, Habit.reminder_error_at)
        .where(Habit.user_id == user_id, Habit.reminder_error.is_not(None))
        .order_by(Habit.id)
    ).all()
    return [SetAside(row[0], str(row[1]), row[2]) for row in rows]
