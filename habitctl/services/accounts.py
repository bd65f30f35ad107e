"""Accounts: registration, argon2id password verifiers, session tokens, lock-out, profiles.

On PostgreSQL every step that touches credentials or sessions runs inside the database's
SECURITY DEFINER functions (migration 0002, docs/security.md), because the CLI's role may
not read them; on SQLite, the single-trust embedded default, the same steps run here.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import make_transient_to_detached

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
LOCKED_OUT = "HC423"  # the SQLSTATE habitctl_login() raises for a locked-out name


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _in_database(db: DbSession) -> bool:
    """Whether credentials are checked by the database (PostgreSQL) rather than here."""
    return db.get_bind().dialect.name == "postgresql"


def _taken(username: str) -> Conflict:
    return Conflict(f"username {username!r} is taken: choose another", field="username")


def register(db: DbSession, username: str, password: str, timezone: str, now: datetime) -> User:
    account = validate(AccountCreate, {"username": username, "password": password})
    zone(timezone)
    verifier = passwords.new_verifier(account.password)
    if _in_database(db):
        try:
            user_id = db.scalar(
                select(func.habitctl_register(account.username, verifier, timezone))
            )
        except IntegrityError as exc:
            raise _taken(account.username) from exc
        # Until it logs in the new user is invisible to the CLI's role, so it is not loaded
        # back: the known row is attached as it is, and never inserted twice.
        user = User(id=user_id, username=account.username, timezone=timezone, created_at=now)
        make_transient_to_detached(user)
        db.add(user)
        return user
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


def login(db: DbSession, username: str, password: str, now: datetime) -> tuple[User, str] | None:
    """Check the credentials and open a session: the user and the new token.

    None for bad credentials, after recording the failure: the caller commits it (it counts
    toward the lock-out), then reports the failure. A locked-out name raises.
    """
    username = normalise_username(username)
    token = secrets.token_urlsafe(32)  # 256 bits; only its SHA-256 digest is stored
    if _in_database(db):
        if len(username) > MAX_USERNAME:  # no account can have it: nothing to check or lock
            return None
        parameters = db.scalar(select(func.habitctl_login_parameters(username)))
        proof = passwords.derive_proof(password, str(parameters))
        try:
            user_id = db.scalar(select(func.habitctl_login(username, proof, token)))
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) == LOCKED_OUT:
                detail = exc.orig.diag.message_detail  # type: ignore[union-attr]
                raise _locked_out(username, datetime.fromisoformat(detail)) from None
            raise
        return None if user_id is None else (authenticate(db, token, now), token)
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

    On PostgreSQL the token is set for this transaction only, and the database's
    `habitctl_me()` — which every row policy calls — decides who that is.
    """
    if _in_database(db):
        db.execute(select(func.set_config("habitctl.token", token, True)))
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
    if _in_database(db):
        db.execute(select(func.habitctl_logout(token)))
        return
    session = db.scalar(select(Session).where(Session.token_digest == token_digest(token)))
    if session is not None and session.revoked_at is None:
        session.revoked_at = now


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
