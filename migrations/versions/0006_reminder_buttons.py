"""Reminder buttons: snoozes ("Later") and the key that signs button data.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A "Later" press is one more due instant of the same occurrence (`reminder_snoozes`, one per
habit and occurrence); its re-send is a delivery of its own, so a delivery is now unique
per habit, occurrence and snooze. Button data is signed with `app_secrets.button_key`,
which only the daemon's role may read (PostgreSQL).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GRANTS = Path(__file__).resolve().parent.parent / "sql" / "0006_reminder_buttons.sql"
KEY_NAME = "button_key"


def upgrade() -> None:
    with op.batch_alter_table("reminder_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snooze", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint("uq_reminder_deliveries_habit_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reminder_deliveries_habit_id", ["habit_id", "occurrence_at", "snooze"]
        )
        batch_op.create_check_constraint("snooze", "snooze >= 0")
    op.create_table(
        "reminder_snoozes",
        sa.Column("id", sa.Integer(), nullable=False),
        # bigint like habits.id on PostgreSQL (0003); SQLite's INTEGER is 64-bit already.
        sa.Column("habit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurrence_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("habit_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["habit_id"],
            ["habits.id"],
            name=op.f("fk_reminder_snoozes_habit_id_habits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_snoozes")),
        sa.UniqueConstraint("habit_id", "occurrence_at", name=op.f("uq_reminder_snoozes_habit_id")),
    )
    op.create_index(op.f("ix_reminder_snoozes_due_at"), "reminder_snoozes", ["due_at"])
    op.execute(
        sa.text("INSERT INTO app_secrets (name, value) VALUES (:name, :value)").bindparams(
            name=KEY_NAME, value=secrets.token_hex(32)
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(GRANTS.read_text()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP POLICY daemon_button_key ON app_secrets"))
        op.execute(sa.text("REVOKE SELECT ON app_secrets FROM habitctl_daemon"))
    op.execute(sa.text("DELETE FROM app_secrets WHERE name = :name").bindparams(name=KEY_NAME))
    op.drop_index(op.f("ix_reminder_snoozes_due_at"), table_name="reminder_snoozes")
    op.drop_table("reminder_snoozes")
    op.execute(sa.text("DELETE FROM reminder_deliveries WHERE snooze > 0"))
    with op.batch_alter_table("reminder_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_reminder_deliveries_snooze"), type_="check")
        batch_op.drop_constraint("uq_reminder_deliveries_habit_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reminder_deliveries_habit_id", ["habit_id", "occurrence_at"]
        )
        batch_op.drop_column("snooze")
