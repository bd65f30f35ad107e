"""Members as PostgreSQL roles; the database holds every rule; nobody can hurt the others.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

On PostgreSQL, PostgreSQL authenticates members itself: a member is a login role created at
registration, each login a session role with a random secret and `VALID UNTIL`; identity is
`session_user` mapped through `member_logins` (docs/security.md). The SQL lives in
`migrations/sql/0003_*.sql`, one concern each. On SQLite only the new tables apply.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from migrations.raw_sql import execute_file, execute_raw

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE_FILES = ("0003_roles.sql", "0003_identity.sql", "0003_habit_rules.sql", "0003_access.sql")


def upgrade() -> None:
    op.create_table(
        "member_logins",
        sa.Column("rolname", sa.String(length=63), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('member', 'session')", name=op.f("ck_member_logins_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_member_logins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rolname", name=op.f("pk_member_logins")),
    )
    with op.batch_alter_table("member_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_logins_user_id"), ["user_id"], unique=False)
    # Registration requests, by COPY; a trigger turns each into an account and keeps no row.
    op.create_table(
        "registrations",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_registrations")),
    )
    op.create_table(
        "daemon_leader",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_daemon_leader_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daemon_leader")),
    )
    if op.get_bind().dialect.name != "postgresql":
        op.execute("INSERT INTO daemon_leader (id) VALUES (1)")
        return
    for name in UPGRADE_FILES:
        execute_file(name)


def _migration_0002_sql() -> str:
    """0002's PostgreSQL text, to restore its functions and grants on the way down."""
    path = Path(__file__).with_name("0002_row_level_security.py")
    spec = importlib.util.spec_from_file_location("habitctl_migration_0002", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.POSTGRES_UPGRADE)


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        execute_file("0003_downgrade.sql")
        old = _migration_0002_sql()
        functions = _between(
            old, "CREATE FUNCTION habitctl_me()", "CREATE FUNCTION habitctl_unlink"
        )
        execute_raw(
            functions.replace(
                "CREATE FUNCTION habitctl_me()", "CREATE OR REPLACE FUNCTION habitctl_me()"
            )
            + _between(old, "REVOKE ALL ON FUNCTION habitctl_me()", "ALTER TABLE users ENABLE")
            + _between(
                old, "-- CLI users:", "GRANT SELECT, INSERT, DELETE ON completions TO habitctl_cli;"
            )
            + "GRANT SELECT, INSERT, DELETE ON completions TO habitctl_cli;\n"
            + "GRANT USAGE ON SEQUENCE completions_id_seq TO habitctl_cli;\n"
            + _between(
                old,
                "GRANT SELECT ON reminder_deliveries TO habitctl_cli;",
                "CREATE POLICY cli_read ON reminder",
            )
            + _between(old, "GRANT SELECT, INSERT ON telegram_link_codes", "-- The daemon:")
        )
    op.drop_table("daemon_leader")
    op.drop_table("registrations")
    with op.batch_alter_table("member_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_logins_user_id"))
    op.drop_table("member_logins")
