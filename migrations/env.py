"""Alembic environment: runs on the engine habitctl hands over, or on `database_url`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine, text

from habitctl.storage.models import Base

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine  # type: ignore[no-any-return]
    from habitctl.config import load_settings
    from habitctl.storage.engine import make_engine

    return make_engine(load_settings().database_url)


OWNER_ROLE = "habitctl_owner"


def _become_owner(connection: Connection) -> None:
    """Create objects as habitctl_owner when an admin runs the migration (docs/security.md).

    The owner role may not exist (a single-user database); then whoever connects owns them.
    """
    if connection.dialect.name != "postgresql":
        return
    # A member's open INSERT must not turn a migration's wait for its lock into a queue
    # that freezes everyone behind it: give up after a while instead, and say so.
    connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
    can = connection.execute(
        text(
            "SELECT current_user <> :owner AND EXISTS (SELECT FROM pg_roles WHERE rolname = "
            ":owner) AND pg_has_role(current_user, :owner, 'USAGE')"
        ),
        {"owner": OWNER_ROLE},
    ).scalar()
    if can:
        connection.exec_driver_sql(f"SET LOCAL ROLE {OWNER_ROLE}")


def run_migrations_online() -> None:
    engine = _engine()
    with engine.begin() as connection:
        _become_owner(connection)
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
