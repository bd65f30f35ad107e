"""Reminder leases and failure isolation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A replica claims due habits by leasing them (who, until when) and commits before it sends,
so no transaction spans a send; an expired lease makes the habit due again. A habit that
cannot be handled (a bad timezone, an instant out of range) is set aside with its reason,
which `habitctl list` shows. (The leader-election row, `daemon_leader`, comes with 0003.)
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GRANTS = Path(__file__).resolve().parent.parent / "sql" / "0004_daemon_access.sql"


def upgrade() -> None:
    with op.batch_alter_table("habits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminder_error", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("reminder_error_at", sa.DateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(GRANTS.read_text()))


def downgrade() -> None:
    with op.batch_alter_table("habits", schema=None) as batch_op:
        batch_op.drop_column("reminder_error_at")
        batch_op.drop_column("reminder_error")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
