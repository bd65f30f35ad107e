"""Attacks on everyone's service (issue 11, point 5): locks, ids, connections, quotas.

Bob tries to freeze the daemon, the API and Alice with table and row locks, to take the
daemon's leader election, to make Alice's `add` fail by choosing ids, to use up the
server's connections, and to store without limit. Each is refused or bounded.
"""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from tests.attack import Psql, World, useful_row
from tests.pg import role_url

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

SHARED_TABLES = (
    "habits",
    "users",
    "user_contacts",
    "completions",
    "telegram_link_codes",
    "reminder_deliveries",
    "send_slots",
    "app_state",
    "daemon_leader",
)
# ROW EXCLUSIVE is what any INSERT holds; it blocks only schema changes (which run with
# lock_timeout), never the daemon, the API or another member.
STRONG_MODES = (
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
HABIT_QUOTA = 500
LINK_CODE_QUOTA = 10
SESSION_QUOTA = 5


def test_a_member_can_take_no_lock_that_blocks_others(world: World) -> None:
    bob = world.member("bob")
    try:
        for table in SHARED_TABLES:
            for mode in STRONG_MODES:
                bob.run("BEGIN")
                message = bob.refused(f"LOCK TABLE {table} IN {mode} MODE")
                assert "permission denied" in message, (table, mode)
                bob.run("ROLLBACK")
        # Row locks on rows Bob can see but does not own: nothing is locked.
        for lock in ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE"):
            for sql in (
                f"SELECT id FROM habits WHERE id = {world.shown} {lock}",
                f"SELECT id FROM users WHERE id = {world.alice_id} {lock}",
            ):
                bob.run("BEGIN")
                try:
                    rows = bob.run(sql)
                except psycopg2.Error:  # refused: as good as nothing locked
                    rows = []
                assert rows == [], sql
                bob.run("ROLLBACK")
    finally:
        bob.close()


def test_the_daemon_and_the_api_run_with_lock_and_statement_timeouts(world: World) -> None:
    for role in ("habitctl_daemon", "habitctl_api"):
        service = Psql(role_url(world.url, role))
        try:
            for setting in (
                "lock_timeout",
                "statement_timeout",
                "idle_in_transaction_session_timeout",
            ):
                assert service.value(f"SHOW {setting}") not in ("0", "0ms"), (role, setting)
        finally:
            service.close()


def test_the_leader_election_table_is_the_daemons_alone(world: World) -> None:
    bob = world.member("bob")
    daemon = Psql(role_url(world.url, "habitctl_daemon"))
    try:
        for statement in (
            "SELECT * FROM daemon_leader",
            "SELECT * FROM daemon_leader FOR UPDATE",
            "UPDATE daemon_leader SET holder = 'bob'",
            "DELETE FROM daemon_leader",
        ):
            assert "permission denied" in bob.refused(statement)
        daemon.run("BEGIN")
        assert len(daemon.run("SELECT * FROM daemon_leader FOR UPDATE NOWAIT")) == 1
        daemon.run("ROLLBACK")
    finally:
        bob.close()
        daemon.close()


def test_members_cannot_choose_ids_or_advance_sequences(world: World) -> None:
    before = world.others()
    bob = world.member("bob")
    try:
        ahead = world.own + 5
        sql, params = useful_row(world.bob_id, id=ahead)
        assert bob.value(sql + " RETURNING id", *params) != ahead  # the id sent is ignored
        for sql, params in (
            (
                "INSERT INTO completions (id, habit_id, local_date, source, created_at) "
                "VALUES (%s, %s, current_date, 'cli', now()) RETURNING id",
                (ahead, world.own),
            ),
            (
                "INSERT INTO telegram_link_codes (id, user_id, code_digest, expires_at) "
                "VALUES (%s, %s, 'x', now() + interval '1 minute') RETURNING id",
                (ahead, world.bob_id),
            ),
        ):
            assert bob.value(sql, *params) != ahead
        for sequence in ("habits_id_seq", "completions_id_seq", "telegram_link_codes_id_seq"):
            bob.refused(f"SELECT setval('{sequence}', 2000000000)")
            bob.refused(f"SELECT nextval('{sequence}')")
        assert (
            bob.value(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'habits' AND column_name = 'id'"
            )
            == "bigint"
        )
    finally:
        bob.close()
    assert world.others() == before
    for _ in range(6):  # Alice's adds go on as before
        world.alice.add("floss", "--at", "07:00", "--place", "bathroom", "--reward", "mint")


def test_one_member_cannot_use_up_the_servers_connections(world: World) -> None:
    held: list[Psql] = []
    refused = 0
    refusal = ""
    try:
        for _ in range(40):
            try:
                held.append(world.member("bob"))
            except psycopg2.OperationalError as error:
                refusal = str(error)
                refused += 1
        assert "too many connections" in refusal
        assert refused > 0
        assert len(held) <= 5
        for role in ("habitctl_daemon", "habitctl_api"):
            Psql(role_url(world.url, role)).close()
        world.member("alice").close()
        assert world.alice.ok("list")
    finally:
        for member in held:
            with contextlib.suppress(psycopg2.Error):
                member.close()


def test_quotas_bound_habits_link_codes_and_sessions(world: World) -> None:
    before = world.others()
    bob = world.member("bob")
    try:
        bob.refused(
            "INSERT INTO habits (user_id, action, place, time, periodicity_days, "
            "duration_seconds, is_pleasant, reward, is_public, created_at, updated_at) "
            f"SELECT {world.bob_id}, 'a' || n, 'b', '07:00', 1, 60, false, 'r', false, "
            "now(), now() "
            f"FROM generate_series(1, {HABIT_QUOTA + 1}) n"
        )
        assert bob.value("SELECT count(*) FROM habits") <= HABIT_QUOTA
        bob.refused(
            "INSERT INTO telegram_link_codes (user_id, code_digest, expires_at) "
            f"SELECT {world.bob_id}, md5(n::text), now() + interval '10 minutes' "
            f"FROM generate_series(1, {LINK_CODE_QUOTA + 1}) n"
        )
    finally:
        bob.close()
    for _ in range(SESSION_QUOTA + 2):
        world.bob.ok(
            "login", "--username", "bob", "--password-stdin", input="correct horse battery\n"
        )
    admin = Psql(world.url)
    try:
        sessions = admin.value(
            "SELECT count(*) FROM member_logins WHERE user_id = %s AND kind = 'session'",
            world.bob_id,
        )
        assert 1 <= sessions <= SESSION_QUOTA
    finally:
        admin.close()
    assert world.others() == before
