"""Attacks on logging in (issue 11, points 3 and 6): guessing, lock-outs, enumeration.

Guesses go where a member would send them: a connection as the account's role, which
PostgreSQL itself answers (SCRAM) after `auth_delay`. Nothing a guesser does is inside their
own transaction, so no ROLLBACK can erase it, and no failure locks the rightful owner out.
"""

from __future__ import annotations

import statistics
import time

import psycopg2
import pytest

from tests.attack import Psql
from tests.cli import PASSWORD, Cli
from tests.pg import AUTH_DELAY_MS, role_url
from tests.test_accounts import login, register

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def gate(cli: Cli) -> Psql:
    return Psql(role_url(cli.database_url, "habitctl_cli"))


def account_role(cli: Cli, username: str) -> str:
    door = gate(cli)
    try:
        return str(door.value("SELECT habitctl_member_role(%s)", username))
    finally:
        door.close()


def guess(cli: Cli, role: str, password: str) -> float:
    """One connection attempt with a wrong password; its duration in seconds."""
    started = time.monotonic()
    with pytest.raises(psycopg2.OperationalError) as refused:
        Psql(cli.database_url, user=role, password=password)
    assert "password authentication failed" in str(refused.value)
    assert password not in str(refused.value)
    return time.monotonic() - started


@pytest.mark.slow
def test_a_hundred_wrong_guesses_each_cost_auth_delay_and_the_owner_logs_in_after(
    cli: Cli,
) -> None:
    assert register(cli, "alice").exit_code == 0
    role = account_role(cli, "alice")
    durations = [guess(cli, role, f"guess number {n}") for n in range(100)]
    assert min(durations) >= AUTH_DELAY_MS / 1000 * 0.95
    assert sum(durations) >= 100 * AUTH_DELAY_MS / 1000
    assert login(cli, "alice").exit_code == 0
    assert cli.ok("whoami", "--json").json()["username"] == "alice"


def test_failing_on_purpose_locks_nobody_out(cli: Cli) -> None:
    assert register(cli, "carol").exit_code == 0
    attacker = gate(cli)
    try:
        # The old lock-out: five failures in one statement, as anyone.
        attacker.refused("SELECT habitctl_login('carol', 'x', 'y') FROM generate_series(1, 5)")
    finally:
        attacker.close()
    for n in range(8):
        assert login(cli, "carol", f"wrong {n}").exit_code == 4
    assert login(cli, "carol").exit_code == 0


def test_a_rolled_back_transaction_erases_no_failure_and_gives_no_session(cli: Cli) -> None:
    assert register(cli, "alice").exit_code == 0
    attacker = gate(cli)
    try:
        attacker.run("BEGIN")
        attacker.refused("SELECT habitctl_login('alice', 'guess', %s)", "t" * 43)
        attacker.run("ROLLBACK")
        # Nothing the gate role can call opens a session or checks a password.
        for function in (
            "habitctl_login(text, text, text)",
            "habitctl_me()",
            "habitctl_login_parameters(text)",
        ):
            assert (
                attacker.value(
                    "SELECT coalesce(has_function_privilege(to_regprocedure(%s), 'EXECUTE'), "
                    "false)",
                    function,
                )
                is False
            )
    finally:
        attacker.close()


def test_registering_a_taken_name_answers_like_a_free_one(cli: Cli) -> None:
    assert register(cli, "alice").exit_code == 0
    taken = register(cli, "alice", "another password")
    free = register(cli, "zoe", "another password")
    assert taken.exit_code == free.exit_code == 0
    assert taken.stdout.replace("alice", "NAME") == free.stdout.replace("zoe", "NAME")
    assert taken.stderr == free.stderr == ""
    # The taken name's owner is unaffected; the second password opens nothing.
    assert login(cli, "alice").exit_code == 0
    assert login(cli, "alice", "another password").exit_code == 4


def test_login_answers_alike_for_unknown_names_and_wrong_passwords_in_time_too(
    cli: Cli,
) -> None:
    assert register(cli, "alice").exit_code == 0

    def timed(name: str) -> tuple[float, str]:
        started = time.monotonic()
        outcome = login(cli, name, "wrong password")
        assert outcome.exit_code == 4
        return time.monotonic() - started, outcome.stderr

    rounds = [(timed("alice"), timed("nobody")) for _ in range(5)]
    assert {wrong[1] for wrong, _ in rounds} == {unknown[1] for _, unknown in rounds}
    wrong_time = statistics.median(wrong[0] for wrong, _ in rounds)
    unknown_time = statistics.median(unknown[0] for _, unknown in rounds)
    assert 0.5 < wrong_time / unknown_time < 2.0, (wrong_time, unknown_time)


def test_the_gate_role_reads_no_private_data_and_writes_nothing(cli: Cli) -> None:
    cli.signup()
    cli.add("journal", "--at", "22:00", "--place", "bed", "--reward", "sleep")
    door = gate(cli)
    try:
        assert door.run("SELECT count(*) FROM habits WHERE NOT is_public") == [(0,)]
        assert door.run("SELECT * FROM user_contacts") == []
        for statement in (
            "SELECT * FROM member_logins",
            "SELECT * FROM user_credentials",
            "SELECT * FROM sessions",
            "SELECT * FROM completions",
            "INSERT INTO users (username, timezone, created_at) VALUES ('mallory', 'UTC', now())",
            "UPDATE habits SET action = 'x'",
            "DELETE FROM habits",
        ):
            assert "permission denied" in door.refused(statement)
    finally:
        door.close()


def test_a_session_is_a_login_role_that_expires_and_logout_drops(cli: Cli) -> None:
    cli.signup(PASSWORD)
    from tests.test_accounts import stored_token

    role = stored_token(cli).split(".", 1)[0]
    admin = Psql(cli.database_url)
    try:
        days = admin.value(
            "SELECT extract(day FROM rolvaliduntil - now()) FROM pg_roles WHERE rolname = %s", role
        )
        assert 29 <= days <= 30
        assert admin.value("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", role) > 0
        cli.ok("logout")
        assert admin.run("SELECT 1 FROM pg_roles WHERE rolname = %s", role) == []
    finally:
        admin.close()
