"""Accounts: registration, argon2id passwords, session tokens, lock-out, profiles."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from habitctl.core.schemas import AccountCreate, normalise_username, validate
from habitctl.core.zones import zone
from habitctl.errors import AuthenticationError, Conflict, InvalidInput
from habitctl.storage.models import LoginFailure, Session, User

SESSION_LIFETIME = timedelta(days=30)
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
MAX_USERNAME = 32
BAD_CREDENTIALS = "unknown username or wrong password"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("habitctl-timing-equaliser")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register(db: DbSession, username: str, password: str, timezone: str, now: datetime) -> User:
    account = validate(AccountCreate, {"username": username, "password": password})
    zone(timezone)
    user = User(
        username=account.username,
        password_hash=_hasher.hash(account.password),
        timezone=timezone,
        created_at=now,
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"username {account.username!r} is taken: choose another", field="username"
        ) from exc
    return user


def _locked_until(db: DbSession, username: str, now: datetime) -> datetime | None:
    recent = db.scalars(
        select(LoginFailure.attempted_at)
        .where(LoginFailure.username == username, LoginFailure.attempted_at > now - LOCKOUT_WINDOW)
        .order_by(LoginFailure.attempted_at.desc())
        .limit(LOCKOUT_FAILURES)
    ).all()
    if len(recent) < LOCKOUT_FAILURES:
        return None
    return recent[0] + LOCKOUT_WINDOW


def login(db: DbSession, username: str, password: str, now: datetime) -> tuple[User, str] | None:
    """Check the credentials and open a session: the user and the new token.

    None for bad credentials, after recording the failure: the caller commits it (it counts
    toward the lock-out), then reports the failure. A locked-out name raises.
    """
    username = normalise_username(username)
    until = _locked_until(db, username, now)
    if until is not None:
        raise AuthenticationError(
            f"too many failed logins for {username!r}: logins for it are locked until "
            f"{until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC; try again then",
            field="username",
        )
    user = db.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        if len(username) <= MAX_USERNAME:  # no account can have a longer name: nothing to lock
            db.add(LoginFailure(username=username, attempted_at=now))
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    db.execute(delete(LoginFailure).where(LoginFailure.username == username))
    token = secrets.token_urlsafe(32)  # 256 bits
    db.add(
        Session(
            user_id=user.id,
            token_digest=token_digest(token),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return user, token


def authenticate(db: DbSession, token: str, now: datetime) -> User:
    """The user owning a live session token."""
    user = db.scalar(
        select(User)
        .join(Session, Session.user_id == User.id)
        .where(
            Session.token_digest == token_digest(token),
            Session.revoked_at.is_(None),
            Session.expires_at > now,
        )
    )
    if user is None:
        raise AuthenticationError("your session has expired or was revoked: run `habitctl login`")
    return user


def logout(db: DbSession, token: str, now: datetime) -> None:
    session = db.scalar(select(Session).where(Session.token_digest == token_digest(token)))
    if session is not None and session.revoked_at is None:
        session.revoked_at = now


def update_profile(
    db: DbSession, user: User, *, timezone: str | None, telegram_username: str | None, now: datetime
) -> User:
    if telegram_username is not None:
        name = telegram_username.strip().lstrip("@")
        if not name or len(name) > 64:
            raise InvalidInput(
                "telegram username must be 1 to 64 characters", field="telegram_username"
            )
        user.telegram_username = name
    if timezone is not None and timezone != user.timezone:
        zone(timezone)
        user.timezone = timezone
        from habitctl.services.habits import reschedule_all

        reschedule_all(db, user, now)
    return user
