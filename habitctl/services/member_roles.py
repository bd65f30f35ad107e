"""Accounts on a shared PostgreSQL: PostgreSQL authenticates members itself.

A member is a login role made at `register`; each `login` makes a session role whose
password is a random 256-bit secret (docs/security.md, migrations/sql/0003_identity.sql).
Every password given to the server is a SCRAM-SHA-256 verifier computed here, so neither a
password nor a secret is ever inside SQL text, and a guess is answered (and delayed, with
`auth_delay`) by PostgreSQL's own authentication, which no transaction can roll back.

A session token is `<session role>.<secret>`: what `HABITCTL_TOKEN` and the keyring hold.
"""

from __future__ import annotations

import io
import secrets
from typing import Any

from sqlalchemy import Engine, create_engine, exists, func, literal_column, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.pool import NullPool

from habitctl.errors import AuthenticationError, InvalidInput
from habitctl.storage.models import User

TOKEN_VARIABLE = "HABITCTL_TOKEN"  # noqa: S105 - a variable name, not a secret
_SESSION_ROLE = r"hc[0-9a-f]{8}_s[0-9a-f]{32}"


def _dbapi(db: DbSession) -> Any:
    return db.connection().connection.dbapi_connection


def _verifier(db: DbSession, secret: str, role: str) -> str:
    """The SCRAM-SHA-256 verifier of `secret`, computed by libpq on this machine."""
    from psycopg2.extensions import encrypt_password  # type: ignore[import-untyped]

    return str(encrypt_password(secret, role, _dbapi(db), "scram-sha-256"))


def split_token(token: str) -> tuple[str, str]:
    """(session role, secret) of a token; InvalidInput when it is not one of ours."""
    import re

    role, _, secret = token.partition(".")
    if not re.fullmatch(_SESSION_ROLE, role) or len(secret) < 43:
        raise AuthenticationError(
            "that session token is not a habitctl session token: run `habitctl login`",
            field="token",
        )
    return role, secret


def session_url(database_url: str, token: str) -> str:
    """The shared URL with the session's own credentials in place of the gate's."""
    role, secret = split_token(token)
    url: URL = make_url(database_url).set(username=role, password=secret)
    return url.render_as_string(hide_password=False)


def is_authentication_failure(exc: BaseException) -> bool:
    """PostgreSQL refused the credentials (wrong, expired, dropped): not an outage."""
    message = str(getattr(exc, "orig", exc) or exc)
    return "password authentication failed" in message or "no password supplied" in message


def register(db: DbSession, username: str, password: str, timezone: str) -> None:
    """Ask for an account through the gate; a taken name gives the same (silent) answer."""
    known = db.scalar(
        select(
            exists()
            .select_from(text("pg_catalog.pg_timezone_names"))
            .where(literal_column("name") == timezone)
        )
    )
    if not known:
        raise InvalidInput(
            f"unknown time zone {timezone!r} on this server: use an IANA name such as "
            "Europe/Berlin",
            field="timezone",
        )
    role = str(db.scalar(select(func.habitctl_member_role(username))))
    row = f"{username}\t{_verifier(db, password, role)}\t{timezone}\n"
    with _dbapi(db).cursor() as cursor:
        # COPY data, unlike the text of a statement, never shows in pg_stat_activity.
        cursor.copy_expert(
            "COPY registrations (username, verifier, timezone) FROM STDIN", io.StringIO(row)
        )


def _connect_as(db: DbSession, user: str, password: str) -> Any:
    bind = db.get_bind()
    base = bind.url if isinstance(bind, Engine) else bind.engine.url
    url = base.set(username=user, password=password)
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})


def login(
    db: DbSession, username: str, password: str, replaces: str | None
) -> tuple[User, str] | None:
    """Authenticate as the member's role and open a session; None for bad credentials.

    `replaces` is the token this client held for the same user: its session is retired.
    """
    role = str(db.scalar(select(func.habitctl_member_role(username))))
    member = _connect_as(db, role, password)
    try:
        with DbSession(member) as as_member, as_member.begin():
            try:
                as_member.connection()
            except OperationalError as exc:
                if is_authentication_failure(exc):
                    return None
                raise
            session_role = role.split("_u", 1)[0] + "_s" + secrets.token_hex(16)
            secret = secrets.token_urlsafe(32)  # 256 bits
            old_role = replaces.partition(".")[0] if replaces else None
            opened = as_member.scalar(
                select(
                    func.habitctl_open_session(
                        session_role, _verifier(as_member, secret, session_role), old_role
                    )
                )
            )
    finally:
        member.dispose()
    if opened is None:
        raise AuthenticationError("the database refused to open a session: try again")
    token = f"{session_role}.{secret}"
    return load_user(db, token), token


def load_user(db: DbSession, token: str) -> User:
    """The session's user, read as the session itself (what it may see of its own row)."""
    role, secret = split_token(token)
    engine = _connect_as(db, role, secret)
    try:
        with DbSession(engine, expire_on_commit=False) as as_session:
            user = as_session.scalar(select(User).where(User.id == func.habitctl_me()))
            if user is None:
                raise AuthenticationError("the new session has no user: run `habitctl login`")
            as_session.expunge_all()
            return user
    finally:
        engine.dispose()


def logout(db: DbSession) -> None:
    """Retire the session this connection is: no identity from now on."""
    db.execute(select(func.habitctl_logout()))


def sweep(db: DbSession) -> None:
    """Drop retired and expired session roles (from another connection than theirs)."""
    db.execute(select(func.habitctl_sweep()))
