"""Row-level security: private user data split out, least-privilege roles, policies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

On PostgreSQL the database itself decides who sees what (docs/security.md): identity comes
only from `habitctl_me()`, a SECURITY DEFINER function that maps the session token set in
`habitctl.token` to a user when the session is live. On SQLite only the table split applies.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from migrations.raw_sql import execute_raw

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PRIVATE_COLUMNS = [
    "email",
    "telegram_username",
    "telegram_chat_id",
    "telegram_unreachable_at",
    "telegram_unreachable_reason",
]
ROLES = ("habitctl_cli", "habitctl_daemon", "habitctl_api")


def upgrade() -> None:
    op.create_table(
        "user_credentials",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_credentials")),
    )
    op.create_table(
        "user_contacts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("telegram_username", sa.String(length=64), nullable=True),
        sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_unreachable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telegram_unreachable_reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_contacts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_contacts")),
        sa.UniqueConstraint("telegram_chat_id", name=op.f("uq_user_contacts_telegram_chat_id")),
    )
    # A secret for the decoy salts given for unknown usernames (no user enumeration).
    secrets_table = op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    op.bulk_insert(secrets_table, [{"name": "decoy_salt_key", "value": secrets.token_hex(32)}])
    op.execute(
        "INSERT INTO user_credentials (user_id, password_hash) SELECT id, password_hash FROM users"
    )
    op.execute(
        f"INSERT INTO user_contacts (user_id, {', '.join(PRIVATE_COLUMNS)}) "
        f"SELECT id, {', '.join(PRIVATE_COLUMNS)} FROM users"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_telegram_chat_id", type_="unique")
        for column in ["password_hash", *PRIVATE_COLUMNS]:
            batch_op.drop_column(column)
    if op.get_bind().dialect.name == "postgresql":
        execute_raw(POSTGRES_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        execute_raw(POSTGRES_DOWNGRADE)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("telegram_username", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("telegram_unreachable_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("telegram_unreachable_reason", sa.String(length=255), nullable=True)
        )
    op.execute(
        "UPDATE users SET password_hash = (SELECT password_hash FROM user_credentials c WHERE c.user_id = users.id)"
    )
    for column in PRIVATE_COLUMNS:
        op.execute(
            f"UPDATE users SET {column} = (SELECT {column} FROM user_contacts c WHERE c.user_id = users.id)"
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=False)
        batch_op.create_unique_constraint("uq_users_telegram_chat_id", ["telegram_chat_id"])
    op.drop_table("app_secrets")
    op.drop_table("user_contacts")
    op.drop_table("user_credentials")


# Everything below is PostgreSQL only. Roles are cluster-wide and may already exist (created
# by `habitctl db roles` with passwords, or by another database's migration): create them
# NOLOGIN when missing; `habitctl db roles` turns on LOGIN and sets passwords.
POSTGRES_UPGRADE = r"""
DO $$
DECLARE role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['habitctl_cli', 'habitctl_daemon', 'habitctl_api'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END $$;

ALTER TABLE users ADD CONSTRAINT ck_users_username CHECK (username ~ '^[a-z0-9_]{3,32}$');


-- Identity: the user of the live session whose token this transaction set, else NULL.
CREATE FUNCTION habitctl_me() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT s.user_id FROM sessions s
    WHERE s.token_digest = encode(sha256(convert_to(
              coalesce(current_setting('habitctl.token', true), ''), 'UTF8')), 'hex')
      AND s.revoked_at IS NULL
      AND s.expires_at > now()
$$;

CREATE FUNCTION habitctl_register(p_username text, p_password_hash text, p_timezone text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE new_id integer;
BEGIN
    IF p_password_hash !~ '^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$sha256:[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'password hash is not an argon2id verifier' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_timezone_names WHERE name = p_timezone) THEN
        RAISE EXCEPTION 'unknown time zone %', p_timezone USING ERRCODE = '22023';
    END IF;
    INSERT INTO users (username, timezone, created_at)
        VALUES (p_username, p_timezone, now()) RETURNING id INTO new_id;
    INSERT INTO user_credentials (user_id, password_hash) VALUES (new_id, p_password_hash);
    INSERT INTO user_contacts (user_id) VALUES (new_id);
    RETURN new_id;
END $$;

-- The argon2id parameters and salt to derive the login proof with; a stable decoy for
-- unknown names, so the answer does not tell whether a username exists.
CREATE FUNCTION habitctl_login_parameters(p_username text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT coalesce(
        (SELECT regexp_replace(c.password_hash, '\$sha256:[0-9a-f]{64}$', '')
           FROM users u JOIN user_credentials c ON c.user_id = u.id
          WHERE u.username = p_username),
        '$argon2id$v=19$m=65536,t=3,p=4$' || rtrim(encode(substring(sha256(convert_to(
            (SELECT value FROM app_secrets WHERE name = 'decoy_salt_key') || p_username, 'UTF8'))
            FROM 1 FOR 16), 'base64'), '='))
$$;

-- Check the proof (the argon2id hash the client derived) against the stored SHA-256 of it,
-- count failures for the lock-out, and open a session for the client's token.
CREATE FUNCTION habitctl_login(p_username text, p_proof text, p_token text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_user integer;
    v_stored text;
    v_failures integer;
    v_latest timestamptz;
BEGIN
    SELECT count(*), max(attempted_at) INTO v_failures, v_latest FROM (
        SELECT attempted_at FROM login_failures
         WHERE username = p_username AND attempted_at > now() - interval '15 minutes'
         ORDER BY attempted_at DESC LIMIT 5) recent;
    IF v_failures >= 5 THEN
        RAISE EXCEPTION 'locked out' USING ERRCODE = 'HC423',
            DETAIL = to_char((v_latest + interval '15 minutes') AT TIME ZONE 'UTC',
                             'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    END IF;
    SELECT u.id, c.password_hash INTO v_user, v_stored
      FROM users u JOIN user_credentials c ON c.user_id = u.id WHERE u.username = p_username;
    IF v_user IS NULL OR v_stored IS DISTINCT FROM
            regexp_replace(p_proof, '\$[^$]*$', '')
            || '$sha256:' || encode(sha256(convert_to(p_proof, 'UTF8')), 'hex') THEN
        INSERT INTO login_failures (username, attempted_at) VALUES (p_username, now());
        RETURN NULL;
    END IF;
    IF length(p_token) < 43 THEN
        RAISE EXCEPTION 'session token too short' USING ERRCODE = '22023';
    END IF;
    DELETE FROM login_failures WHERE username = p_username;
    INSERT INTO sessions (user_id, token_digest, created_at, expires_at)
        VALUES (v_user, encode(sha256(convert_to(p_token, 'UTF8')), 'hex'), now(),
                now() + interval '30 days');
    RETURN v_user;
END $$;

CREATE FUNCTION habitctl_logout(p_token text) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    UPDATE sessions SET revoked_at = now()
     WHERE token_digest = encode(sha256(convert_to(p_token, 'UTF8')), 'hex')
       AND revoked_at IS NULL
    RETURNING true
$$;

CREATE FUNCTION habitctl_unlink_telegram() RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    UPDATE user_contacts
       SET telegram_chat_id = NULL, telegram_unreachable_at = NULL,
           telegram_unreachable_reason = NULL
     WHERE user_id = habitctl_me() AND telegram_chat_id IS NOT NULL
    RETURNING true
$$;

-- R3 where psql users could bypass the CLI: the foreign key check runs as the table owner
-- and would accept any habit id, so the link rule is a trigger too.
CREATE FUNCTION habitctl_check_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.linked_habit_id IS NOT NULL AND NOT EXISTS (
            SELECT FROM habits h WHERE h.id = NEW.linked_habit_id
               AND h.user_id = NEW.user_id AND h.is_pleasant) THEN
        RAISE EXCEPTION 'linked habit % is not a pleasant habit of the same user (R3)',
            NEW.linked_habit_id USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER habits_link_rule BEFORE INSERT OR UPDATE OF linked_habit_id, user_id
    ON habits FOR EACH ROW EXECUTE FUNCTION habitctl_check_link();

REVOKE ALL ON FUNCTION habitctl_me(), habitctl_register(text, text, text),
    habitctl_login_parameters(text), habitctl_login(text, text, text), habitctl_logout(text),
    habitctl_unlink_telegram(), habitctl_check_link() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION habitctl_me(), habitctl_register(text, text, text),
    habitctl_login_parameters(text), habitctl_login(text, text, text), habitctl_logout(text),
    habitctl_unlink_telegram() TO habitctl_cli;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE habits ENABLE ROW LEVEL SECURITY;
ALTER TABLE completions ENABLE ROW LEVEL SECURITY;
ALTER TABLE reminder_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE telegram_link_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE app_secrets ENABLE ROW LEVEL SECURITY;

GRANT SELECT ON alembic_version TO habitctl_cli, habitctl_daemon, habitctl_api;

-- CLI users: their own data, plus public habits and their owners' names.
GRANT SELECT, UPDATE (timezone) ON users TO habitctl_cli;
CREATE POLICY cli_read ON users FOR SELECT TO habitctl_cli USING (
    id = habitctl_me() OR EXISTS (SELECT FROM habits h WHERE h.user_id = users.id AND h.is_public));
CREATE POLICY cli_update ON users FOR UPDATE TO habitctl_cli
    USING (id = habitctl_me()) WITH CHECK (id = habitctl_me());
GRANT SELECT, UPDATE (email, telegram_username) ON user_contacts TO habitctl_cli;
CREATE POLICY cli_own ON user_contacts FOR ALL TO habitctl_cli
    USING (user_id = habitctl_me()) WITH CHECK (user_id = habitctl_me());
GRANT SELECT, INSERT, UPDATE, DELETE ON habits TO habitctl_cli;
GRANT USAGE ON SEQUENCE habits_id_seq TO habitctl_cli;
CREATE POLICY cli_read ON habits FOR SELECT TO habitctl_cli
    USING (user_id = habitctl_me() OR is_public);
CREATE POLICY cli_insert ON habits FOR INSERT TO habitctl_cli WITH CHECK (user_id = habitctl_me());
CREATE POLICY cli_update ON habits FOR UPDATE TO habitctl_cli
    USING (user_id = habitctl_me()) WITH CHECK (user_id = habitctl_me());
CREATE POLICY cli_delete ON habits FOR DELETE TO habitctl_cli USING (user_id = habitctl_me());
GRANT SELECT, INSERT, DELETE ON completions TO habitctl_cli;
GRANT USAGE ON SEQUENCE completions_id_seq TO habitctl_cli;
CREATE POLICY cli_own ON completions FOR ALL TO habitctl_cli
    USING (EXISTS (SELECT FROM habits h WHERE h.id = habit_id AND h.user_id = habitctl_me()))
    WITH CHECK (EXISTS (SELECT FROM habits h WHERE h.id = habit_id AND h.user_id = habitctl_me()));
GRANT SELECT ON reminder_deliveries TO habitctl_cli;
CREATE POLICY cli_read ON reminder_deliveries FOR SELECT TO habitctl_cli
    USING (EXISTS (SELECT FROM habits h WHERE h.id = habit_id AND h.user_id = habitctl_me()));
GRANT SELECT, INSERT ON telegram_link_codes TO habitctl_cli;
GRANT USAGE ON SEQUENCE telegram_link_codes_id_seq TO habitctl_cli;
CREATE POLICY cli_own ON telegram_link_codes FOR ALL TO habitctl_cli
    USING (user_id = habitctl_me()) WITH CHECK (user_id = habitctl_me());
GRANT SELECT ON app_state TO habitctl_cli;

-- The daemon: what reminders need; writes deliveries, completions and scheduling state.
GRANT SELECT ON users TO habitctl_daemon;
CREATE POLICY daemon_all ON users FOR SELECT TO habitctl_daemon USING (true);
GRANT SELECT (user_id, telegram_username, telegram_chat_id, telegram_unreachable_at,
              telegram_unreachable_reason),
      UPDATE (telegram_username, telegram_chat_id, telegram_unreachable_at,
              telegram_unreachable_reason) ON user_contacts TO habitctl_daemon;
CREATE POLICY daemon_all ON user_contacts FOR ALL TO habitctl_daemon USING (true);
GRANT SELECT, UPDATE (next_reminder_at) ON habits TO habitctl_daemon;
CREATE POLICY daemon_all ON habits FOR ALL TO habitctl_daemon USING (true);
GRANT SELECT, INSERT ON completions TO habitctl_daemon;
GRANT USAGE ON SEQUENCE completions_id_seq TO habitctl_daemon;
CREATE POLICY daemon_all ON completions FOR ALL TO habitctl_daemon USING (true);
GRANT SELECT, INSERT ON reminder_deliveries TO habitctl_daemon;
GRANT USAGE ON SEQUENCE reminder_deliveries_id_seq TO habitctl_daemon;
CREATE POLICY daemon_all ON reminder_deliveries FOR ALL TO habitctl_daemon USING (true);
GRANT SELECT, UPDATE (used_at) ON telegram_link_codes TO habitctl_daemon;
CREATE POLICY daemon_all ON telegram_link_codes FOR ALL TO habitctl_daemon USING (true);
GRANT SELECT, INSERT, UPDATE ON send_slots, app_state TO habitctl_daemon;

-- The HTTP endpoint: public habits and their owners' names, nothing else.
GRANT SELECT ON users TO habitctl_api;
CREATE POLICY api_public ON users FOR SELECT TO habitctl_api
    USING (EXISTS (SELECT FROM habits h WHERE h.user_id = users.id AND h.is_public));
GRANT SELECT ON habits TO habitctl_api;
CREATE POLICY api_public ON habits FOR SELECT TO habitctl_api USING (is_public);
"""

POSTGRES_DOWNGRADE = r"""
DROP TRIGGER habits_link_rule ON habits;
DROP FUNCTION habitctl_check_link(), habitctl_unlink_telegram(), habitctl_logout(text),
    habitctl_login(text, text, text), habitctl_login_parameters(text),
    habitctl_register(text, text, text);
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT policyname, tablename FROM pg_policies WHERE schemaname = current_schema()
    LOOP
        EXECUTE format('DROP POLICY %I ON %I', item.policyname, item.tablename);
    END LOOP;
END $$;
DROP FUNCTION habitctl_me();
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures DISABLE ROW LEVEL SECURITY;
ALTER TABLE habits DISABLE ROW LEVEL SECURITY;
ALTER TABLE completions DISABLE ROW LEVEL SECURITY;
ALTER TABLE reminder_deliveries DISABLE ROW LEVEL SECURITY;
ALTER TABLE telegram_link_codes DISABLE ROW LEVEL SECURITY;
ALTER TABLE users DROP CONSTRAINT ck_users_username;
DO $$
DECLARE role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['habitctl_cli', 'habitctl_daemon', 'habitctl_api'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', current_schema(), role_name);
            EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', current_schema(), role_name);
        END IF;
    END LOOP;
END $$;
"""
