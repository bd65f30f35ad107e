"""A registered, logged-in user for tests whose subject is not accounts.

`habitctl register` and `login` cost an argon2id hash each (a few hundred ms of CPU with
the library's parameters on a busy machine); with every test on two backends that would be
most of the suite's time. Here the user row and a live session are written directly, with
the same models and digest the services use, and the CLI is given the token through
`HABITCTL_TOKEN` — itself a documented way in (SPEC §5). Registering and logging in for
real are tested in `test_accounts.py`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import Executable, text, update
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
