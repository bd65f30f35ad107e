"""Accounts: registration, login, sessions, profiles.

On PostgreSQL, PostgreSQL authenticates members itself (`member_roles`, docs/security.md):
members and sessions are login roles, guesses are delayed by the server and nothing can
lock an owner out. On SQLite, the single-trust embedded default, passwords are argon2id
verifiers, sessions are SHA-256 digests of their tokens, and five failures in 15 minutes
pause a name's logins.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from habitctl.core import passwords
from habitctl.core.schemas import AccountCreate, normalise_username, validate
from habitctl.core.zones import zone
from habitctl.errors import AuthenticationError, Conflict, InvalidInput
from habitctl.storage.models import LoginFailure, Session, User, UserContact, UserCredentials

SESSION_LIFETIME = timedelta(days=30)
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
MAX_USERNAME = 32
BAD_CREDENTIALS = "unknown username or wrong password"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _in_database(db: DbSession) -> bool:
    """Whether PostgreSQL authenticates members itself, rather than this module (SQLite)."""
    return db.get_bind().dialect.name == "postgresql"


def _taken(username: str) -> Conflict:
    return Conflict(f"username {username!r} is taken: choose another", field="username")


def check_new_password(password: str) -> None:
    """At least 8 characters, and not only spaces."""
    if len(password) < 8 or len(password) > 1024:
        raise InvalidInput("password must be 8 to 1024 characters long", field="password")
    if not password.strip():
        raise InvalidInput(
            "password must not be blank: use at least 8 characters, not only spaces",
            field="password",
        )


def register(db: DbSession, username: str, password: str, timezone: str, now: datetime) -> User:
    account = validate(AccountCreate, {"username": username, "password": password})
    check_new_password(account.password)
    zone(timezone)
    if _in_database(db):
        from habitctl.services import member_roles

        # A taken name answers like a free one (no enumeration); its owner is unaffected.
        member_roles.register(db, account.username, account.password, timezone)
        # Until it logs in the new user is invisible to the gate role, so it is not loaded
        # back: the row as asked for is attached, never inserted.
        user = User(id=0, username=account.username, timezone=timezone, created_at=now)
        make_transient_to_detached(user)
        set_committed_value(user, "contact", None)
        return user
    verifier = passwords.new_verifier(account.password)
    user = User(username=account.username, timezone=timezone, created_at=now)
    db.add(user)
    try:
        db.flush()
    except IntegrityError as exc:
        raise _taken(account.username) from exc
    db.add_all(
        [UserCredentials(user_id=user.id, password_hash=verifier), UserContact(user_id=user.id)]
    )
    return user


def _locked_out(username: str, until: datetime) -> AuthenticationError:
    return AuthenticationError(
        f"too many failed logins for {username!r}: logins for it are locked until "
        f"{until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC; try again then",
        field="username",
    )


def login(
    db: DbSession, username: str, password: str, now: datetime, *, replaces: str | None = None
) -> tuple[User, str] | None:
    """Check the credentials and open a session: the user and the new token.

    None for bad credentials. On SQLite the failure is recorded first: the caller commits it
    (it counts toward the pause), then reports the failure; a paused name raises. On
    PostgreSQL the server answers and delays a wrong password itself. `replaces` is the token
    this client held for the same user, whose session the new one replaces.
    """
    username = normalise_username(username)
    if _in_database(db):
        from habitctl.services import member_roles

        return member_roles.login(db, username[: MAX_USERNAME + 1], password, replaces)
    token = secrets.token_urlsafe(32)  # 256 bits; only its SHA-256 digest is stored
    until = _locked_until(db, username, now)
    if until is not None:
        raise _locked_out(username, until)
    found = db.execute(
        select(User, UserCredentials.password_hash)
        .join(UserCredentials, UserCredentials.user_id == User.id)
        .where(User.username == username)
    ).first()
    stored = found[1] if found else None
    parameters = (
        passwords.parameters_of(stored) if stored else passwords.decoy_parameters(username, "")
    )
    proof = passwords.derive_proof(password, parameters)  # also for unknown names: equal timing
    if found is None or stored is None or not passwords.matches(stored, proof):
        if len(username) <= MAX_USERNAME:
            db.add(LoginFailure(username=username, attempted_at=now))
        return None
    user = found[0]
    db.execute(delete(LoginFailure).where(LoginFailure.username == username))
    db.add(
        Session(
            user_id=user.id,
            token_digest=token_digest(token),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return user, token


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


def authenticate(db: DbSession, token: str, now: datetime) -> User:
    """The user owning a live session token.

    On PostgreSQL the connection itself is the session (its role, authenticated by the
    server), and the database's `habitctl_me()` — which every row policy calls — maps it.
    """
    if _in_database(db):
        user = db.scalar(select(User).where(User.id == func.habitctl_me()))
    else:
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
    """Revoke the session; on PostgreSQL `db` must be that session's own connection."""
    if _in_database(db):
        from habitctl.services import member_roles

        member_roles.logout(db)
        return
    session = db.scalar(select(Session).where(Session.token_digest == token_digest(token)))
    if session is not None and session.revoked_at is None:
        session.revoked_at = now


def sweep_sessions(db: DbSession) -> None:
    """PostgreSQL: drop the roles of retired sessions (they cannot drop themselves)."""
    if _in_database(db):
        from habitctl.services import member_roles

        member_roles.sweep(db)


def contact(user: User) -> UserContact:
    """The user's own contact row (always present for an account's owner)."""
    if user.contact is None:
        raise AuthenticationError("your account's contact details are not readable here")
    return user.contact


def update_profile(
    db: DbSession, user: User, *, timezone: str | None, telegram_username: str | None, now: datetime
) -> User:
    if telegram_username is not None:
        name = telegram_username.strip().lstrip("@")
        if not name or len(name) > 64:
            raise InvalidInput(
                "telegram username must be 1 to 64 characters", field="telegram_username"
            )
        contact(user).telegram_username = name
    if timezone is not None and timezone != user.timezone:
        zone(timezone)
        user.timezone = timezone
        from habitctl.services.habits import reschedule_all

        reschedule_all(db, user, now)
    return user
