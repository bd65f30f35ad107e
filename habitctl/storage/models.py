"""The schema, as typed SQLAlchemy models. Alembic revisions in `migrations/` must match it."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from habitctl.storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Ids members create rows with are bigint on PostgreSQL (generated, never chosen: migration
# 0003); SQLite keeps INTEGER, the only type that makes a primary key its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account's public face: what other users of public habits may see."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    habits: Mapped[list[Habit]] = relationship(back_populates="owner", passive_deletes=True)
    # On PostgreSQL only the user and the daemon can see this row; for others it is None.
    contact: Mapped[UserContact | None] = relationship(
        back_populates="user", lazy="selectin", passive_deletes=True
    )


class UserCredentials(Base):
    """The password verifier, apart from everything else: no runtime role may read it."""

    __tablename__ = "user_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))


class UserContact(Base):
    """How to reach a user: private to the user (and to the daemon, which sends reminders)."""

    __tablename__ = "user_contacts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Deferred: only its owner reads it; the daemon's role may not select it at all.
    email: Mapped[str | None] = mapped_column(String(255), deferred=True)
    telegram_username: Mapped[str | None] = mapped_column(String(64))
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # Set when Telegram answered 403/400 for the chat: no more sends until relinked.
    telegram_unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    telegram_unreachable_reason: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(back_populates="contact")


class Session(Base):
    """A login session. Only the SHA-256 digest of the token is stored."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """One failed login, kept for the lock-out window."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "attempted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Habit(Base):
    __tablename__ = "habits"
    __table_args__ = (
        CheckConstraint("duration_seconds BETWEEN 1 AND 120", name="duration"),
        CheckConstraint("periodicity_days BETWEEN 1 AND 7", name="periodicity"),
        CheckConstraint("NOT (reward IS NOT NULL AND linked_habit_id IS NOT NULL)", name="r1"),
        # The daemon's claim query: everything due, oldest first.
        Index("ix_habits_next_reminder_at", "next_reminder_at"),
        Index("ix_habits_user_id_id", "user_id", "id"),
        # Keyset pagination of public habits; the predicate must be spelled `WHERE is_public`.
        # Migration 0001 makes it partial on PostgreSQL too; `postgresql_where` is not repeated
        # here because naming a dialect's option imports that dialect on every CLI start-up.
        Index("ix_habits_public_id", "id", sqlite_where=text("is_public")),
        # Export and import find a habit again by its uid (migration 0007).
        Index("uq_habits_user_id_uid", "user_id", "uid", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(255))
    place: Mapped[str] = mapped_column(String(255))
    time: Mapped[time] = mapped_column(Time)
    periodicity_days: Mapped[int] = mapped_column(Integer, default=1)
    duration_seconds: Mapped[int] = mapped_column(Integer, default=120)
    is_pleasant: Mapped[bool] = mapped_column(Boolean, default=False)
    reward: Mapped[str | None] = mapped_column(String(255))
    linked_habit_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("habits.id", ondelete="RESTRICT"), index=True
    )
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A stable identity across export and import, unique per owner; None only for rows
    # written by hand without one (an export then derives one from the id).
    uid: Mapped[str | None] = mapped_column(String(36), default=lambda: str(uuid.uuid4()))
    # The daemon replica sending this habit's reminder, and until when its claim holds:
    # past `lease_until` the habit is due again for any replica.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the daemon set this habit's reminders aside (bad timezone, instant out of range),
    # shown to the owner; cleared by the next reminder handled.
    reminder_error: Mapped[str | None] = mapped_column(String(255))
    reminder_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship(back_populates="habits")
    linked_habit: Mapped[Habit | None] = relationship(remote_side=[id])


class Completion(Base):
    """A habit done, or skipped on purpose, on one local day of its owner."""

    __tablename__ = "completions"
    __table_args__ = (
        UniqueConstraint("habit_id", "local_date"),
        CheckConstraint("kind IN ('done', 'skipped')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    habit_id: Mapped[int] = mapped_column(BigId, ForeignKey("habits.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="cli")
    # "done", or "skipped": a day off on purpose that neither breaks nor extends a streak.
    kind: Mapped[str] = mapped_column(String(8), default="done", server_default="done")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReminderDelivery(Base):
    """What the daemon did with one occurrence of a habit: unique per habit, occurrence and
    snooze (0 the reminder itself, 1 its re-send after "Later")."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (
        UniqueConstraint("habit_id", "occurrence_at", "snooze"),
        CheckConstraint("snooze >= 0", name="snooze"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    habit_id: Mapped[int] = mapped_column(BigId, ForeignKey("habits.id", ondelete="CASCADE"))
    occurrence_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # "sent" or "skipped"
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    snooze: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReminderSnooze(Base):
    """A "Later" press: the same occurrence's reminder once more at `due_at`, once.

    Pending while `due_at` is set: the daemon leases the habit to send it, as for any
    reminder, and its delivery (snooze 1) is the record that it went. A day recorded, an
    edit of the habit (`updated_at` no longer `habit_updated_at`) or an unreachable chat
    cancels it; deleting the habit deletes it.
    """

    __tablename__ = "reminder_snoozes"
    __table_args__ = (
        UniqueConstraint("habit_id", "occurrence_at"),
        Index("ix_reminder_snoozes_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    habit_id: Mapped[int] = mapped_column(BigId, ForeignKey("habits.id", ondelete="CASCADE"))
    occurrence_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    habit_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "sent", or why it was cancelled ("recorded", "edited", "unreachable", "stale", …).
    outcome: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TelegramLinkCode(Base):
    """A one-time code for `/start <code>`; only its digest is stored."""

    __tablename__ = "telegram_link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendSlot(Base):
    """Shared send-rate state, so replicas together respect Telegram's limits.

    key "global" paces all sends; key "chat:<id>" paces one chat. `next_at` is the earliest
    instant the next send may start.
    """

    __tablename__ = "send_slots"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppState(Base):
    """Small shared facts, such as the bot's username learnt by the daemon."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AppSecret(Base):
    """Server-side secrets (the decoy-salt key); readable by no runtime role."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MemberLogin(Base):
    """PostgreSQL: which login role (a member's, or one session's) is which user.

    Only definer functions read it; `habitctl_me()` maps `session_user` through it. Unused
    on SQLite, where sessions are rows of `sessions`.
    """

    __tablename__ = "member_logins"
    __table_args__ = (CheckConstraint("kind IN ('member', 'session')", name="kind"),)

    rolname: Mapped[str] = mapped_column(String(63), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "member" (password) or "session"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Registration(Base):
    """PostgreSQL: where `habitctl register` COPYs its request; a trigger makes the account
    and keeps no row (COPY data, unlike SQL text, never shows in pg_stat_activity)."""

    __tablename__ = "registrations"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    verifier: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))


class DaemonLeader(Base):
    """The daemon's leader election: one row, locked by the replica that polls updates.

    Only habitctl_daemon may read or lock it, unlike an advisory key, which any role can take.
    """

    __tablename__ = "daemon_leader"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
