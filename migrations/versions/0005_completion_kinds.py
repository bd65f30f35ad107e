"""Completions carry a kind: a day done, or a day skipped on purpose.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

A skipped day (ill, travelling) neither breaks nor extends a streak; it lives beside the
days done, one row per habit and local day, so a day is either done or skipped, never both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="done")
        )
        batch_op.create_check_constraint("kind", "kind IN ('done', 'skipped')")


def downgrade() -> None:
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_completions_kind"), type_="check")
        batch_op.drop_column("kind")
