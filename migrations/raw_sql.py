"""PostgreSQL SQL that migrations hand to the driver as it is written.

Function bodies hold `%` and `:`, which parameter styles would read as placeholders, so the
text goes straight to the DBAPI cursor, without parameters.
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

SQL = Path(__file__).resolve().parent / "sql"


def execute_raw(sql: str) -> None:
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def execute_file(name: str) -> None:
    """One of the `.sql` files beside the revisions (migrations/sql/)."""
    execute_raw((SQL / name).read_text())
