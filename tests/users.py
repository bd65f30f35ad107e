"""A registered, logged-in user for tests whose subject is not accounts.

`habitctl register` and `login` cost an argon2id hash each on SQLite (a few hundred ms of
CPU on a busy machine); with every test on two backends that would be most of the suite's
time. Here the account and a live session are written directly — on SQLite with the same
models and digest the services use; on PostgreSQL as the database's own registration and
session functions would make them (a member role, a session role with a SCRAM verifier,
their rows in `member_logins`) — and the CLI is given the token through `HABITCTL_TOKEN`,
itself a documented way in (SPEC §5). Registering and logging in for real are tested in
`test_accounts.py` and `test_attacks_login.py`.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import psycopg2
from psycopg2.extensions import encrypt_password
from sqlalchemy import Executable, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as DbSession

from habitctl.core.passwords import new_verifier
from habitctl.services.accounts import SESSION_LIFETIME, token_digest
from habitctl.storage.engine import make_engine
from habitctl.storage.models import Habit, Session, User, UserContact, UserCredentials
from tests.cli import PASSWORD, Cli


@cache
def _password_hash() -> str:
    return new_verifier(PASSWORD)


def logged_in(cli: Cli, timezone: str = "UTC") -> Cli:
    """Create `cli.username` with PASSWORD and log it in; returns the same Cli."""
    if make_url(cli.database_url).get_backend_name() == "postgresql":
        cli.env["HABITCTL_TOKEN"] = _postgres_session(cli.database_url, cli.username, timezone)
        return cli
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    engine = make_engine(cli.database_url)
    try:
        with DbSession(engine) as db, db.begin():
            user = User(username=cli.username, timezone=timezone, created_at=now)
            db.add(user)
            db.flush()
            db.add(UserCredentials(user_id=user.id, password_hash=_password_hash()))
            db.add(UserContact(user_id=user.id))
            db.add(
                Session(
                    user_id=user.id,
                    token_digest=token_digest(token),
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
    finally:
        engine.dispose()
    cli.env["HABITCTL_TOKEN"] = token
    return cli


def write_raw(cli: Cli, statement: str | Executable, **params: object) -> None:
    """Change stored rows behind the CLI's back, as the database's owner (or superuser)
    would with `psql`, or anyone with the SQLite file: for data the CLI would refuse."""
    engine = make_engine(cli.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement) if isinstance(statement, str) else statement, params)
    finally:
        engine.dispose()


def backdate(cli: Cli, habit_id: int, days: int) -> None:
    """Make a habit `days` days older, so its history may reach that far back."""
    created = datetime.now(UTC) - timedelta(days=days)
    write_raw(cli, update(Habit).where(Habit.id == habit_id).values(created_at=created))


def _postgres_session(admin_url: str, username: str, timezone: str) -> str:
    """Register through `registrations` (as `habitctl register` does) and add a session
    role directly (as `habitctl_open_session` would): the token `<role>.<secret>`."""
    url = make_url(admin_url)
    conn = psycopg2.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
    )
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT habitctl_member_role(%s)", (username,))
            member = cursor.fetchone()[0]
            verifier = encrypt_password(PASSWORD, member, conn, "scram-sha-256")
            cursor.copy_expert(
                "COPY registrations (username, verifier, timezone) FROM STDIN",
                io.StringIO(f"{username}\t{verifier}\t{timezone}\n"),
            )
            role = member.split("_u", 1)[0] + "_s" + secrets.token_hex(16)
            secret = secrets.token_urlsafe(32)
            cursor.execute(
                "SELECT habitctl_create_login_role(%s, %s, now() + interval '30 days', 3)",
                (role, encrypt_password(secret, role, conn, "scram-sha-256")),
            )
            cursor.execute(
                "INSERT INTO member_logins (rolname, user_id, kind, created_at, expires_at) "
                "SELECT %s, id, 'session', now(), now() + interval '30 days' FROM users "
                "WHERE username = %s",
                (role, username),
            )
    finally:
        conn.close()
    return f"{role}.{secret}"
