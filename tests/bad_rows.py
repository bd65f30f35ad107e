"""Planting rows the application would refuse, to test that the daemon survives them.

On PostgreSQL the schema's own CHECK constraints, NOT NULLs and triggers refuse such rows
(a member with `psql` may not write them); a test plays an operator who got past them, or
data from before the rules: as the superuser of the throwaway database it drops the CHECK
constraints and NOT NULLs of the columns it writes and disables user triggers, then writes.
Every test that plants bad data goes through here, so a new rule in the schema changes
this one place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Executable, text

_UNGUARD_PG = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
             WHERE contype = 'c' AND conrelid IN ('habits'::regclass, 'users'::regclass,
                                                    'user_contacts'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
    END LOOP;
END $$;
ALTER TABLE habits DISABLE TRIGGER USER;
ALTER TABLE users DISABLE TRIGGER USER;
ALTER TABLE user_contacts DISABLE TRIGGER USER;
ALTER TABLE habits ALTER COLUMN time DROP NOT NULL;
"""


def unguard(conn: Connection) -> None:
    """Drop the CHECK constraints and user triggers of habits, users and user_contacts (on
    PostgreSQL; SQLite has none of them): rows no validation ever saw can then be written."""
    if conn.dialect.name == "postgresql":
        # Straight to the driver, without parameters: the DO block holds `%`.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(_UNGUARD_PG)
        cursor.close()


def plant(engine: Engine, sql: str | Executable, **params: Any) -> None:
    """Run `sql` (habits/users writes) with the schema's guards out of the way."""
    with engine.begin() as conn:
        unguard(conn)
        conn.execute(text(sql) if isinstance(sql, str) else sql, params)


def bad_timezone(engine: Engine, user_id: int, zone: str = "Mars/Olympus_Mons") -> None:
    plant(engine, "UPDATE users SET timezone = :zone WHERE id = :id", zone=zone, id=user_id)


def next_reminder_literal(engine: Engine, habit_id: int, literal: str) -> None:
    """`next_reminder_at` as the database spells it: '-infinity', '1900-01-01 07:00:00+00'."""
    value = literal if engine.dialect.name == "postgresql" else literal.replace("+00", "")
    cast = "CAST(:value AS timestamptz)" if engine.dialect.name == "postgresql" else ":value"
    plant(
        engine,
        f"UPDATE habits SET next_reminder_at = {cast} WHERE id = :id",
        value=value,
        id=habit_id,
    )


def no_time_of_day(engine: Engine, habit_id: int) -> None:
    """A habit without a time of day: its reminder text cannot be written."""
    if engine.dialect.name == "sqlite":
        # SQLite cannot drop a NOT NULL in place; the column's type is only a hint, so a
        # value no time parser reads does the same.
        plant(engine, "UPDATE habits SET time = 'never' WHERE id = :id", id=habit_id)
    else:
        plant(engine, "UPDATE habits SET time = NULL WHERE id = :id", id=habit_id)
