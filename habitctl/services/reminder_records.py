"""Writing back what the daemon did with leased habits, each write a short transaction.

Every write is guarded by the lease: it applies only to habits this replica still holds
(`lease_owner`; or that nobody holds, as when a stop gave the leases back first), and the
schedule moves on only if the habit is still at the occurrence the lease was taken for, so
an owner's edit made meanwhile wins over the daemon's advance. A
delivery row is unique per habit and occurrence (`INSERT … ON CONFLICT DO NOTHING`), so a
repeat after a crash never records one occurrence twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, case, func, or_, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from habitctl.storage.models import Habit, ReminderDelivery, UserContact
from habitctl.storage.types import UTCDateTime

SET_ASIDE_OWNER = "set-aside"  # the lease holder of a habit the daemon could not handle


@dataclass(frozen=True)
class Handled:
    """One leased habit dealt with: sent, skipped, or moved on without a message."""

    habit_id: int
    leased_at: datetime  # where the habit stood when leased: the guard against an edit
    next_at: datetime
    skipped: datetime | None = None
    sent_at_occurrence: datetime | None = None
    chat_id: int | None = None
    message_id: int | None = None
    snooze: int = 0  # a snooze's re-send is a delivery of its own (services.snoozes)


# SQLite (one daemon per file): the deliveries, then the habits, statement by statement.
_INSERT_ONCE_SQLITE = sqlite.insert(ReminderDelivery).on_conflict_do_nothing(
    index_elements=["habit_id", "occurrence_at", "snooze"]
)


# PostgreSQL: the deliveries and the habits in one statement (one round trip) for the whole
# group, whatever its size. A delivery goes in even where the lease has passed to another
# replica meanwhile (Telegram accepted that message); the habit moves on only in this
# replica's lease or in nobody's.
_RECORD_PG = text(
    """
    WITH deliveries AS (
        INSERT INTO reminder_deliveries
            (habit_id, occurrence_at, status, chat_id, telegram_message_id, recorded_at, snooze)
        SELECT d.habit_id, d.occurrence_at, d.status, d.chat_id, d.message_id, :now, d.snooze
        FROM unnest(CAST(:d_habits AS bigint[]), CAST(:d_occurrences AS timestamptz[]),
                    CAST(:d_statuses AS varchar[]), CAST(:d_chats AS bigint[]),
                    CAST(:d_messages AS bigint[]), CAST(:d_snoozes AS integer[]))
             AS d(habit_id, occurrence_at, status, chat_id, message_id, snooze)
        ON CONFLICT (habit_id, occurrence_at, snooze) DO NOTHING
    )
    UPDATE habits AS h SET
        next_reminder_at = CASE WHEN h.next_reminder_at = v.leased_at
                                THEN v.next_at ELSE h.next_reminder_at END,
        lease_owner = NULL, lease_until = NULL, reminder_error = NULL, reminder_error_at = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:leased AS timestamptz[]),
                CAST(:nexts AS timestamptz[])) AS v(id, leased_at, next_at)
    WHERE h.id = v.id AND (h.lease_owner = :replica OR h.lease_owner IS NULL)
    """
)


# `_RECORD_PG`'s delivery arrays (`:d_habits`, …) and the delivery column each one holds.
_DELIVERY_ARRAYS = (
    ("habits", "habit_id"),
    ("occurrences", "occurrence_at"),
    ("statuses", "status"),
    ("chats", "chat_id"),
    ("messages", "telegram_message_id"),
    ("snoozes", "snooze"),
)


def record_handled(db: Session, replica: str, handled: list[Handled]) -> None:
    """Deliveries (sent and skipped) and next occurrences for a group, set-based."""
    if not handled:
        return
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for item in handled:
        if item.skipped is not None:
            rows.append(
                _delivery(item.habit_id, item.skipped, "skipped", None, None, now, item.snooze)
            )
        if item.sent_at_occurrence is not None:
            rows.append(
                _delivery(
                    item.habit_id, item.sent_at_occurrence, "sent", item.chat_id,
                    item.message_id, now, item.snooze,
                )
            )  # fmt: skip
    if db.get_bind().dialect.name == "postgresql":
        db.execute(
            _RECORD_PG,
            {
                **{
                    f"d_{plural}": [row[column] for row in rows]
                    for plural, column in _DELIVERY_ARRAYS
                },
                "now": now,
                "ids": [item.habit_id for item in handled],
                "leased": [item.leased_at for item in handled],
                "nexts": [item.next_at for item in handled],
                "replica": replica,
            },
        )
        return
    if rows:
        db.execute(_INSERT_ONCE_SQLITE, rows)
    table = Habit.__table__
    assert isinstance(table, Table)
    habits = table.c
    # SQLite (one daemon per file): Core, not ORM, an executemany of one guarded UPDATE.
    db.connection().execute(
        update(table)
        .where(
            habits.id == bindparam("hid"),
            or_(habits.lease_owner == replica, habits.lease_owner.is_(None)),
        )
        .values(
            next_reminder_at=case(
                (
                    # As instants, not as text: a value written by hand may be spelt
                    # differently ('07:30:00' against '07:30:00.000000').
                    func.julianday(habits.next_reminder_at)
                    == func.julianday(bindparam("leased", type_=UTCDateTime())),
                    bindparam("next_at", type_=UTCDateTime()),
                ),
                else_=habits.next_reminder_at,
            ),
            lease_owner=None,
            lease_until=None,
            reminder_error=None,
            reminder_error_at=None,
        ),
        [
            {"hid": item.habit_id, "leased": item.leased_at, "next_at": item.next_at}
            for item in handled
        ],
    )


def _delivery(
    habit_id: int,
    occurrence: datetime,
    status: str,
    chat_id: int | None,
    message_id: int | None,
    now: datetime,
    snooze: int = 0,
) -> dict[str, Any]:
    return {
        "habit_id": habit_id,
        "occurrence_at": occurrence,
        "status": status,
        "chat_id": chat_id,
        "telegram_message_id": message_id,
        "recorded_at": now,
        "snooze": snooze,
    }


def set_aside(
    db: Session, replica: str, reasons: dict[int, str], now: datetime, hold: timedelta
) -> None:
    """Habits that cannot be handled: the reason kept for the owner, tried again after `hold`.

    The hold is a lease nobody renews, so a fixed habit (a timezone corrected) comes back by
    itself, and a broken one costs one log line per `hold`, never a crash loop.
    """
    for habit_id, reason in reasons.items():
        db.execute(
            update(Habit)
            .where(Habit.id == habit_id, Habit.lease_owner == replica)
            .values(
                reminder_error=reason[:255],
                reminder_error_at=now,
                lease_owner=SET_ASIDE_OWNER,
                lease_until=now + hold,
            )
            .execution_options(synchronize_session=False)
        )


def release(db: Session, replica: str, habit_ids: list[int] | None = None) -> None:
    """Give leases back (at shutdown, or what was not sent): those habits are due at once."""
    statement = update(Habit).where(Habit.lease_owner == replica)
    if habit_ids is not None:
        statement = statement.where(Habit.id.in_(habit_ids))
    db.execute(
        statement.values(lease_owner=None, lease_until=None).execution_options(
            synchronize_session=False
        )
    )


def extend(db: Session, replica: str, now: datetime, lease: timedelta) -> int:
    """The heartbeat: every lease this replica holds runs `lease` from `now` again."""
    result = db.execute(
        update(Habit)
        .where(Habit.lease_owner == replica)
        .values(lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_unreachable(db: Session, user_id: int, reason: str, now: datetime) -> None:
    db.execute(
        update(UserContact)
        .where(UserContact.user_id == user_id)
        .values(telegram_unreachable_at=now, telegram_unreachable_reason=reason[:255])
    )
