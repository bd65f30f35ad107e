"""One Alembic chain for both backends: it round-trips and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from habitctl.storage import migrate
from habitctl.storage.engine import SCHEMA_REVISION, current_revision
from habitctl.storage.models import Base


def test_schema_revision_constant_is_the_migration_head() -> None:
    assert migrate.head_revision() == SCHEMA_REVISION


def test_migrations_round_trip_empty_head_base_head(engine: Engine) -> None:
    migrate.downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    assert current_revision(engine) == SCHEMA_REVISION


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
