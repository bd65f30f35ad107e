"""Stable habit identities for export and import: `habits.uid`, unique per owner.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A backup names each habit by its uid, so importing the same file twice finds the habits it
already made instead of doubling them. The uid is unique per owner, not globally: two people
may import the same file, and a global index would tell one member that another holds it.
The column stays nullable so SQLite can add it without rebuilding `habits` (a rebuild drops
the table, and with foreign keys on that would cascade into completions); every row gets a
uid here, and the model gives each new habit one.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_habits = sa.table("habits", sa.column("id", sa.Integer), sa.column("uid", sa.String))


def upgrade() -> None:
    op.add_column("habits", sa.Column("uid", sa.String(length=36), nullable=True))
    bind = op.get_bind()
    for (habit_id,) in bind.execute(sa.select(_habits.c.id)).all():
        bind.execute(_habits.update().where(_habits.c.id == habit_id).values(uid=str(uuid.uuid4())))
    op.create_index("uq_habits_user_id_uid", "habits", ["user_id", "uid"], unique=True)
    if bind.dialect.name == "postgresql":
        # Members update habits through column grants only (0003): a restore sets the uid.
        op.execute("GRANT UPDATE (uid) ON public.habits TO habitctl_member")


def downgrade() -> None:
    op.drop_index("uq_habits_user_id_uid", table_name="habits")
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would cascade into completions.
    op.execute("ALTER TABLE habits DROP COLUMN uid")
