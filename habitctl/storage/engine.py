"""The one engine/session factory, and the check that the schema is current.

SQLite (the embedded default) is created 0600 and migrated on first use; PostgreSQL is
migrated explicitly with `habitctl db upgrade`, and a CLI finding it behind says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from habitctl.errors import SchemaBehind, StorageError

# The newest Alembic revision; a test keeps it equal to the head of `migrations/`, so the hot
# path of every command need not import Alembic to know whether the schema is current.
SCHEMA_REVISION = "0007"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the file owner-only before SQLite does: the embedded default is single-trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get their directory, mode and pragmas."""
    sqlite_path = _sqlite_path(url)
    if sqlite_path is not None:
        _prepare_sqlite_file(sqlite_path)
    elif make_url(url).get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        # executemany of UPDATEs (the daemon's batch of next occurrences) in a few round trips.
        kwargs.setdefault("executemany_mode", "values_plus_batch")
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, translate_db_errors(factory), session.begin():
        yield session


@contextmanager
def translate_db_errors(factory: sessionmaker[Session] | Engine) -> Iterator[None]:
    """Turn "the database cannot be used" into StorageError, and the database's refusals of
    habitctl's rules into the domain errors the same rules give in Python."""
    try:
        yield
    except OperationalError as exc:
        bind = factory if isinstance(factory, Engine) else factory.kw["bind"]
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StorageError(
            f"cannot use the database at {safe_url(str(bind.url))}: {reason}. "
            "Check `database_url` (habitctl config show) and that the server is running."
        ) from exc
    except DBAPIError as exc:
        from habitctl.storage.db_errors import domain_error

        error = domain_error(exc)
        if error is None:
            raise
        raise error from exc


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for an empty one."""
    with translate_db_errors(engine), engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except (ProgrammingError, OperationalError, DBAPIError) as exc:
            if _is_missing_table(exc):
                return None
            raise
    return row[0] if row else None


def _is_missing_table(exc: DBAPIError) -> bool:
    """No version table, or none this role may read (its grants come with the migrations)."""
    message = str(exc.orig).lower()
    return any(sign in message for sign in ("no such table", "does not exist", "permission denied"))


def ensure_schema(engine: Engine, *, auto_migrate: bool) -> None:
    """Raise SchemaBehind unless the schema is current; migrate SQLite files when allowed."""
    revision = current_revision(engine)
    if revision == SCHEMA_REVISION:
        return
    if auto_migrate and engine.dialect.name == "sqlite":
        from habitctl.storage.migrate import upgrade

        upgrade(engine)
        return
    found = f"at revision {revision}" if revision else "empty"
    raise SchemaBehind(
        f"the database schema is {found}, this habitctl needs {SCHEMA_REVISION}: "
        "run `habitctl db upgrade`"
    )
