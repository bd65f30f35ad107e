"""Isolation the database enforces: each role, with raw SQL as a member with psql would type.

Alice and Bob share a PostgreSQL database. Bob copies his CLI's connection settings into a
SQL client and tries to read, change and delete Alice's private data, to forge an identity
and to change the schema. Every attempt returns nothing or is refused, and nothing changes;
the same statements as Alice (with her own session) succeed, so the policies are not simply
denying everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from psycopg2.errors import InsufficientPrivilege
from sqlalchemy import create_engine, text

from tests.cli import Cli
from tests.pg import role_url
from tests.users import logged_in

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

SNAPSHOT = {
    "habits": "SELECT * FROM habits ORDER BY id",
    "completions": "SELECT * FROM completions ORDER BY id",
    "users": "SELECT * FROM users ORDER BY id",
    "user_contacts": "SELECT * FROM user_contacts ORDER BY user_id",
    "user_credentials": "SELECT * FROM user_credentials ORDER BY user_id",
    "sessions": "SELECT * FROM sessions ORDER BY id",
}


class Psql:
    """A raw connection as one role, the way a member would use psql."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parsed = create_engine(url).url
        user, password = parsed.username, parsed.password
        if token is not None and "." in token and user == "habitctl_cli":
            user, password = token.split(".", 1)  # a member connects as their session role
        self.conn = psycopg2.connect(
            host=parsed.host,
            port=parsed.port,
            user=user,
            password=password,
            dbname=parsed.database,
        )
        self.conn.autocommit = True
        if token is not None:
            self.run("SELECT set_config('habitctl.token', %s, false)", token)

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

    def refused(self, sql: str, *params: Any) -> str:
        with pytest.raises(psycopg2.Error) as error:
            self.run(sql, *params)
        return str(error.value)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def world(cli: Cli) -> Iterator[dict[str, Any]]:
    alice = logged_in(cli)
    bob = logged_in(cli.as_user("bob"))
    tea = alice.add("I will make tea at 07:00 in the kitchen", "--pleasant")
    secret = alice.add("I will journal at 22:00 in bed", "--linked", str(tea["id"]))
    shown = alice.add("I will stretch at 08:00 in the hall", "--reward", "music", "--public")
    alice.ok("done", str(secret["id"]))
    own = bob.add("I will read at 21:00 in the study", "--reward", "cocoa")
    admin = create_engine(cli.database_url)
    with admin.begin() as conn:
        conn.execute(
            text(
                "UPDATE user_contacts SET email = 'alice@example.org', telegram_chat_id = 4242, "
                "telegram_username = 'alice_tg' WHERE user_id = (SELECT id FROM users "
                "WHERE username = 'alice')"
            )
        )
    yield {
        "alice": alice.env["HABITCTL_TOKEN"],
        "bob": bob.env["HABITCTL_TOKEN"],
        "secret": secret["id"],
        "tea": tea["id"],
        "shown": shown["id"],
        "own": own["id"],
        "url": cli.database_url,
        "admin": admin,
    }
    admin.dispose()


def snapshot(world: dict[str, Any]) -> dict[str, list[Any]]:
    with world["admin"].connect() as conn:
        return {name: list(conn.execute(text(sql)).all()) for name, sql in SNAPSHOT.items()}


def ids(rows: list[tuple[Any, ...]]) -> set[Any]:
    return {row[0] for row in rows}


def test_bob_with_psql_cannot_read_or_change_alices_private_data(world: dict[str, Any]) -> None:
    before = snapshot(world)
    bob = Psql(role_url(world["url"], "habitctl_cli"), world["bob"])
    try:
        assert ids(bob.run("SELECT id FROM habits")) == {world["shown"], world["own"]}
        assert bob.run("SELECT * FROM habits WHERE id = %s", world["secret"]) == []
        assert bob.run("SELECT count(*) FROM completions") == [(0,)]
        assert bob.run("SELECT user_id, email, telegram_chat_id FROM user_contacts") == [
            (bob.run("SELECT habitctl_me()")[0][0], None, None)
        ]
        assert bob.run("UPDATE habits SET action = 'hacked' WHERE id = %s", world["secret"]) == [
            (0,)
        ]
        assert bob.run("UPDATE habits SET action = 'hacked' WHERE id = %s", world["shown"]) == [
            (0,)
        ]
        # Members hold no DELETE at all (it would let them LOCK the table): definer functions.
        assert "permission denied" in bob.refused(
            "DELETE FROM habits WHERE id IN (%s, %s)", world["secret"], world["shown"]
        )
        assert "permission denied" in bob.refused("DELETE FROM completions")
        assert bob.run("UPDATE users SET timezone = 'Asia/Tokyo' WHERE username = 'alice'") == [
            (0,)
        ]
        assert bob.run("UPDATE user_contacts SET email = 'x' WHERE email LIKE 'alice%%'") == [(0,)]
        assert "row-level security" in bob.refused(
            "INSERT INTO habits (user_id, action, place, time, periodicity_days, "
            "duration_seconds, is_pleasant, reward, is_public, created_at, updated_at) "
            "SELECT id, 'a', 'b', '07:00', 1, 60, false, 'r', false, now(), now() "
            "FROM users WHERE username = 'alice'"
        )
        assert "row-level security" in bob.refused(
            "INSERT INTO completions (habit_id, local_date, source, created_at) "
            "VALUES (%s, current_date - 3, 'cli', now())",
            world["secret"],
        )
        assert "R3" in bob.refused(
            "UPDATE habits SET reward = NULL, linked_habit_id = %s WHERE id = %s",
            world["tea"],
            world["own"],
        )
        for secret_table in ("user_credentials", "sessions", "login_failures", "app_secrets"):
            assert "permission denied" in bob.refused(f"SELECT * FROM {secret_table}")
        assert "permission denied" in bob.refused(
            "UPDATE user_contacts SET telegram_chat_id = 4242"
        )
        assert "permission denied" in bob.refused("SELECT habitctl_check_link()")
    finally:
        bob.close()
    assert snapshot(world) == before


# Forged identities: tests/test_attacks_identity.py (identity is the authenticated role).


def test_alice_reads_and_changes_her_own_data(world: dict[str, Any]) -> None:
    alice = Psql(role_url(world["url"], "habitctl_cli"), world["alice"])
    try:
        mine = {world["tea"], world["secret"], world["shown"]}
        assert ids(alice.run("SELECT id FROM habits")) == mine  # and not Bob's private one
        assert alice.run("SELECT count(*) FROM completions") == [(1,)]
        assert alice.run("SELECT email, telegram_chat_id FROM user_contacts") == [
            ("alice@example.org", 4242)
        ]
        assert alice.run("UPDATE habits SET place = 'desk' WHERE id = %s", world["secret"]) == [
            (1,)
        ]
        assert alice.run("UPDATE user_contacts SET email = 'a@example.org'") == [(1,)]
        assert alice.run("SELECT habitctl_unlink_telegram()") == [(True,)]
        assert alice.run(
            "SELECT habitctl_delete_completion(habit_id, local_date) FROM completions"
        ) == [(True,)]
    finally:
        alice.close()


def test_runtime_roles_cannot_change_the_schema(world: dict[str, Any]) -> None:
    for role in ("habitctl_cli", "habitctl_daemon", "habitctl_api"):
        member = Psql(role_url(world["url"], role))
        try:
            assert "permission denied" in member.refused("CREATE TABLE loot (x int)")
            assert "must be owner" in member.refused("DROP TABLE habits")
            assert "must be owner" in member.refused(
                "ALTER TABLE habits DISABLE ROW LEVEL SECURITY"
            )
            assert member.run(
                "SELECT rolsuper OR rolbypassrls OR rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user"
            ) == [(False,)]
        finally:
            member.close()


def test_daemon_role_reads_what_reminders_need_and_writes_only_scheduling(
    world: dict[str, Any],
) -> None:
    daemon = Psql(role_url(world["url"], "habitctl_daemon"))
    try:
        assert len(daemon.run("SELECT id FROM habits")) == 4
        assert daemon.run(
            "SELECT telegram_chat_id FROM user_contacts WHERE telegram_chat_id IS NOT NULL"
        ) == [(4242,)]
        assert daemon.run(
            "UPDATE habits SET next_reminder_at = now() WHERE id = %s", world["secret"]
        ) == [(1,)]
        for statement in (
            "SELECT password_hash FROM user_credentials",
            "SELECT * FROM sessions",
            "SELECT email FROM user_contacts",
            "UPDATE habits SET action = 'x'",
            "DELETE FROM habits",
            "DELETE FROM completions",
            "INSERT INTO sessions (user_id, token_digest, created_at, expires_at) "
            "VALUES (1, 'x', now(), now())",
        ):
            assert "permission denied" in daemon.refused(statement)
    finally:
        daemon.close()


def test_api_role_reads_public_habits_and_nothing_else(world: dict[str, Any]) -> None:
    api = Psql(role_url(world["url"], "habitctl_api"), world["alice"])
    try:
        assert ids(api.run("SELECT id FROM habits")) == {world["shown"]}
        assert ids(api.run("SELECT username FROM users")) == {"alice"}
        for statement in (
            "SELECT * FROM user_contacts",
            "SELECT * FROM completions",
            "SELECT * FROM sessions",
            "SELECT * FROM user_credentials",
            "UPDATE habits SET is_public = true",
            "SELECT habitctl_me()",
        ):
            assert "permission denied" in api.refused(statement)
    finally:
        api.close()


def test_insufficient_privilege_is_the_error_class(world: dict[str, Any]) -> None:
    api = Psql(role_url(world["url"], "habitctl_api"))
    try:
        with pytest.raises(InsufficientPrivilege):
            api.run("SELECT * FROM sessions")
    finally:
        api.close()
