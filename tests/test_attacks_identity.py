"""Attacks on identity (issue 11, points 1 and 2): a member with psql tries to become another.

Bob holds his own valid session. He plants temporary tables under the names the definer
functions read, sets session settings, switches roles, and watches pg_stat_activity and the
server log while Alice works. Each attempt is refused or yields nothing; Alice's data and
every role in the cluster are unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time

import psycopg2
import pytest

from tests.attack import Psql, World
from tests.cli import PASSWORD, Cli
from tests.pg import PostgresCluster, role_url

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

HIJACK_TABLES = (
    "sessions",
    "users",
    "user_credentials",
    "login_failures",
    "habits",
    "member_logins",
    "app_secrets",
)
PINNED = ["search_path=pg_catalog, public, pg_temp"]


def visible_habits(member: Psql) -> set[int]:
    return {row[0] for row in member.run("SELECT id FROM habits")}


def test_no_runtime_role_can_create_temporary_objects(world: World) -> None:
    connections = [
        world.member("bob"),
        *(
            Psql(role_url(world.url, r))
            for r in ("habitctl_cli", "habitctl_daemon", "habitctl_api")
        ),
    ]
    try:
        for member in connections:
            for name in HIJACK_TABLES:
                assert "permission denied" in member.refused(f"CREATE TEMP TABLE {name} (x int)")
            assert "permission denied" in member.refused("CREATE TEMP VIEW v AS SELECT 1")
    finally:
        for member in connections:
            member.close()


def test_temporary_tables_named_like_the_real_ones_hijack_no_definer_function(
    world: World,
) -> None:
    """The attacks that worked against `search_path FROM CURRENT`; none may change anything."""
    before = world.others()
    bob = world.member("bob")
    fake_digest = hashlib.sha256(b"forged").hexdigest()
    attempts = [
        # 1. habitctl_me() reads a planted session for Alice's id.
        "CREATE TEMP TABLE sessions AS SELECT {alice}::int AS user_id, '"
        + fake_digest
        + "'::text AS token_digest, NULL::timestamptz AS revoked_at, "
        "now() + interval '1 day' AS expires_at",
        "CREATE TEMP TABLE member_logins AS SELECT session_user::name AS rolname, "
        "{alice}::bigint AS user_id, 'session'::text AS kind, NULL::timestamptz AS expires_at",
        # 3. a trigger on a planted login_failures runs as the function's owner.
        "CREATE TEMP TABLE login_failures (username text, attempted_at timestamptz)",
        # 4. a planted habits table defeats the link rule.
        "CREATE TEMP TABLE habits AS SELECT * FROM public.habits WHERE false",
        "CREATE TEMP TABLE users AS SELECT {alice}::int AS id, 'bob'::text AS username",
    ]
    try:
        for statement in attempts:
            with contextlib.suppress(psycopg2.Error):  # refused outright: the safe answer
                bob.run(statement.format(alice=world.alice_id))
        with contextlib.suppress(psycopg2.Error):
            bob.run("SELECT set_config('habitctl.token', 'forged', false)")
        assert world.secret not in visible_habits(bob)
        assert world.tea not in visible_habits(bob)
        for statement in (
            f"UPDATE habits SET action = 'hacked' WHERE id = {world.secret}",
            "INSERT INTO habits (user_id, action, place, time, periodicity_days, "
            "duration_seconds, is_pleasant, linked_habit_id, is_public, created_at, updated_at) "
            f"VALUES ({world.bob_id}, 'x', 'y', '07:00', 1, 60, false, {world.tea}, false, "
            "now(), now())",
            "SELECT * FROM user_contacts WHERE email IS NOT NULL",
        ):
            try:
                rows = bob.run(statement)
            except psycopg2.Error:
                continue
            assert rows in ([], [(0,)]), (statement, rows)
    finally:
        bob.close()
    assert world.others() == before


def test_every_security_definer_function_pins_search_path_with_pg_temp_last(
    world: World,
) -> None:
    admin = Psql(world.url)
    try:
        functions = admin.run(
            "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.prosecdef AND n.nspname = 'public' ORDER BY 1"
        )
    finally:
        admin.close()
    assert len(functions) >= 5
    unpinned = [name for name, config in functions if config != PINNED]
    assert unpinned == []


def test_identity_cannot_be_forged_by_settings_or_role_switches(world: World) -> None:
    before = world.others()
    alice_token = world.alice.env["HABITCTL_TOKEN"]
    bob = world.member("bob")
    try:
        bob.run("SELECT set_config('habitctl.token', %s, false)", alice_token)
        assert world.secret not in visible_habits(bob)
        alice_role = alice_token.split(".", 1)[0]
        for statement in (
            f'SET ROLE "{alice_role}"',
            f'SET SESSION AUTHORIZATION "{alice_role}"',
            "SET ROLE habitctl_owner",
            "SET ROLE habitctl_daemon",
        ):
            assert "permission denied" in bob.refused(statement)
        assert world.secret not in visible_habits(bob)
        assert {world.own, world.bob_tea} <= visible_habits(bob)
    finally:
        bob.close()
    assert world.others() == before


def test_the_same_statements_as_the_rightful_owner_succeed(world: World) -> None:
    alice = world.member("alice")
    try:
        assert {world.tea, world.secret, world.shown} <= visible_habits(alice)
        assert world.own not in visible_habits(alice)
        assert alice.run("UPDATE habits SET place = 'desk' WHERE id = %s", world.secret) == [(1,)]
        assert alice.run("SELECT email, telegram_chat_id FROM user_contacts") == [
            ("alice@example.org", 4242)
        ]
    finally:
        alice.close()


@pytest.mark.slow
def test_a_member_watching_activity_and_the_log_learns_no_secret_of_another(
    cli: Cli, pg_cluster: PostgresCluster
) -> None:
    """Bob polls pg_stat_activity and reads the server log while Carol runs 20 commands."""
    from tests.users import logged_in

    bob = Psql.as_member(logged_in(cli.as_user("bob")))
    carol = cli.as_user("carol")
    log = pg_cluster.root / "log"
    log_start = log.stat().st_size
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.extend(
                str(row[0])
                for row in bob.run(
                    "SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                )
            )

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        carol.signup()
        from tests.test_accounts import stored_token

        carol_token = stored_token(carol)
        carol_secret = carol_token.split(".", 1)[-1]
        carol.ok(
            "add",
            "write the secret diary",
            "--at",
            "07:00",
            "--place",
            "attic",
            "--reward",
            "hidden cake",
        )
        for _ in range(4):
            carol.ok("list")
            carol.ok("whoami")
            carol.ok("profile")
        carol("login", "--username", "carol", "--password-stdin", input="not my password\n")
        carol.ok("login", "--username", "carol", "--password-stdin", input=PASSWORD + "\n")
        carol.ok("logout")
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join()
        bob.close()
    assert len(seen) > 20
    server_log = log.read_text(errors="replace")[log_start:]
    for secret in (
        PASSWORD,
        carol_token,
        carol_secret,
        "SCRAM-SHA-256$",
        "secret diary",
        "hidden cake",
    ):
        assert not [q for q in seen if secret in q], secret
        assert secret not in server_log, secret
