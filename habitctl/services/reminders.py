"""Due reminders: claim them, decide send or skip, record deliveries, advance the schedule.

The daemon frames one transaction per batch: `claim_due` locks the batch (PostgreSQL:
`FOR UPDATE SKIP LOCKED`, so replicas take disjoint batches), the daemon sends, then
`record_outcomes` writes deliveries and the next occurrences before the commit. A crash
between Telegram's acceptance and the commit repeats that message: at-least-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Insert, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from habitctl.core import timing
from habitctl.core.reminder_text import reminder_text
from habitctl.core.zones import zone
from habitctl.storage.models import Habit, ReminderDelivery, User, UserContact


@dataclass
class DueReminder:
    """One claimed habit with its occurrence, and what the daemon will do with it."""

    habit_id: int
    user_id: int
    at: time
    timezone: str
    periodicity_days: int
    occurrence: datetime
    chat_id: int | None
    text: str
    skipped: list[datetime] = field(default_factory=list)

    @property
    def local_day(self) -> date:
        return timing.scheduled_date(self.occurrence, self.at, zone(self.timezone))

    def following(self) -> datetime:
        return timing.next_occurrence(
            self.at, zone(self.timezone), self.periodicity_days, self.occurrence
        )


def database_now(db: Session) -> datetime:
    """The database's clock, so replicas with skewed clocks agree on what is due."""
    if db.get_bind().dialect.name == "sqlite":
        return datetime.now(UTC)  # one daemon per SQLite file, on this machine
    value = db.scalar(select(func.now()))
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def claim_due(db: Session, now: datetime, limit: int) -> list[DueReminder]:
    """Lock up to `limit` due habits that no other replica holds, oldest first."""
    linked = aliased(Habit)
    rows = db.execute(
        select(
            Habit.id,
            Habit.user_id,
            Habit.action,
            Habit.place,
            Habit.time,
            Habit.periodicity_days,
            Habit.duration_seconds,
            Habit.reward,
            Habit.next_reminder_at,
            User.timezone,
            UserContact.telegram_chat_id,
            UserContact.telegram_unreachable_at,
            linked.action,
        )
        .join(User, User.id == Habit.user_id)
        .outerjoin(UserContact, UserContact.user_id == Habit.user_id)
        .outerjoin(linked, linked.id == Habit.linked_habit_id)
        .where(Habit.next_reminder_at <= now)
        .order_by(Habit.next_reminder_at)
        .limit(limit)
        .with_for_update(of=Habit, skip_locked=True)
    ).all()
    return [
        DueReminder(
            habit_id=row[0],
            user_id=row[1],
            at=row[4],
            timezone=row[9],
            periodicity_days=row[5],
            occurrence=row[8] or now,  # never None: `<= now` excludes NULL
            chat_id=row[10] if row[11] is None else None,
            text=reminder_text(row[4], row[2], row[3], row[6], row[7], row[12]),
        )
        for row in rows
    ]


def apply_grace(reminder: DueReminder, now: datetime, grace: timedelta) -> bool:
    """Skip occurrences older than the grace period; True if the one left is due now.

    After downtime the habit jumps to its first occurrence no older than `grace`: at most one
    late message per habit, never a burst of stale ones.
    """
    while now - reminder.occurrence > grace:
        reminder.skipped.append(reminder.occurrence)
        reminder.occurrence = reminder.following()
    return reminder.occurrence <= now


def _insert_once(db: Session) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: one delivery row per habit and occurrence, ever."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement: Insert = dialect.insert(ReminderDelivery).on_conflict_do_nothing(
        index_elements=["habit_id", "occurrence_at"]
    )
    return statement


@dataclass
class Outcomes:
    """What happened to a claimed batch, written back in one go."""

    sent: dict[int, int | None] = field(default_factory=dict)  # habit id → message id
    unreachable: dict[int, str] = field(default_factory=dict)  # user id → reason
    advance_only: set[int] = field(default_factory=set)  # habit ids: no chat, or chat gone


def record_outcomes(
    db: Session, batch: list[DueReminder], outcomes: Outcomes, now: datetime
) -> None:
    """Write deliveries and next occurrences; reminders with no outcome stay due."""
    deliveries = []
    moves = []
    for reminder in batch:
        deliveries += [
            {
                "habit_id": reminder.habit_id,
                "occurrence_at": skipped,
                "status": "skipped",
                "chat_id": None,
                "telegram_message_id": None,
                "recorded_at": now,
            }
            for skipped in reminder.skipped
        ]
        if reminder.habit_id in outcomes.sent:
            deliveries.append(
                {
                    "habit_id": reminder.habit_id,
                    "occurrence_at": reminder.occurrence,
                    "status": "sent",
                    "chat_id": reminder.chat_id,
                    "telegram_message_id": outcomes.sent[reminder.habit_id],
                    "recorded_at": now,
                }
            )
            moves.append({"id": reminder.habit_id, "next_reminder_at": reminder.following()})
        elif reminder.habit_id in outcomes.advance_only:
            moves.append({"id": reminder.habit_id, "next_reminder_at": reminder.following()})
        elif reminder.skipped:
            # Still due (a send failed) but stale occurrences are behind it now.
            moves.append({"id": reminder.habit_id, "next_reminder_at": reminder.occurrence})
    if deliveries:
        db.execute(_insert_once(db), deliveries)
    if moves:
        db.execute(update(Habit), moves)
    for user_id, reason in outcomes.unreachable.items():
        db.execute(
            update(UserContact)
            .where(UserContact.user_id == user_id)
            .values(telegram_unreachable_at=now, telegram_unreachable_reason=reason[:255])
        )
