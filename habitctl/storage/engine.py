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
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, StatementError
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
    if parsed.query.get("uri") == "true":  # SQLite's own file: URI; SQLite opens it as given
        return None
    return Path(database)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the file owner-only before SQLite does: the embedded default is single-trust.

    habitctl makes its own data directory on first use, never a directory someone named: a
    typo in `database_url` must not leave a new empty database somewhere unexpected.
    """
    from habitctl import paths

    directory = path.parent
    try:
        if directory.resolve() == paths.data_dir().resolve():
            directory.mkdir(parents=True, exist_ok=True)
        elif not directory.is_dir():
            raise StorageError(
                f"the directory {directory} of the SQLite database does not exist: create it, "
                "or set `database_url` to a file in an existing directory"
            )
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except OSError as exc:
        raise StorageError(
            f"cannot create the SQLite database {path}: {exc.strerror or exc} "
            f"({exc.filename or directory}). Choose a writable place with HABITCTL_DATA_DIR "
            "or `database_url`"
        ) from None


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
        raise StorageError(_storage_advice(bind, reason)) from exc
    except DBAPIError as exc:
        from habitctl.storage.db_errors import domain_error

        error = domain_error(exc)
        if error is None:
            raise
        raise error from exc


def _storage_advice(bind: Engine, reason: str) -> str:
    where = safe_url(str(bind.url))
    if bind.dialect.name != "sqlite":
        return (
            f"cannot use the database at {where}: {reason}. "
            "Check `database_url` (habitctl config show) and that the server is running."
        )
    if "readonly" in reason or "read-only" in reason:
        return (
            f"cannot write the SQLite database at {where}: it is read-only. Check the "
            "permissions of the file and its directory (or the mount), or use another "
            "`database_url`."
        )
    if "locked" in reason:
        return (
            f"the SQLite database at {where} is locked by another program ({reason}): "
            "try again in a moment."
        )
    return (
        f"cannot use the SQLite database at {where}: {reason}. Check `database_url` "
        "(habitctl config show), the file and its directory."
    )


@contextmanager
def pooled_cursor(engine: Engine) -> Iterator[DBAPICursor]:
    """A DBAPI cursor on one of `engine`'s pooled connections, for a hot read path that runs SQL
    compiled once. Driver errors come out as SQLAlchemy's (so `translate_db_errors` and the
    callers' handlers see what they would from `Connection.execute`), and a lost connection
    empties the pool, as SQLAlchemy's own execution does, so one request fails, not one per
    pooled connection."""
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def wrapped(exc: Exception, lost: bool) -> StatementError:
        return DBAPIError.instance(
            None, None, exc, dbapi_error, connection_invalidated=lost, dialect=engine.dialect
        )

    try:
        raw = engine.raw_connection()
    except dbapi_error as exc:  # a checkout error is raised by the driver, unwrapped
        raise wrapped(exc, lost=True) from exc
    cursor = raw.cursor()
    try:
        yield cursor
    except dbapi_error as exc:
        lost = engine.dialect.is_disconnect(exc, raw.dbapi_connection, cursor)  # type: ignore[arg-type]
        if lost:
            raw.invalidate(exc)
            engine.pool.dispose()
        raise wrapped(exc, lost) from exc
    finally:
        if raw.dbapi_connection is not None:
            cursor.close()
        raw.close()


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
