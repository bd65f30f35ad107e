"""Accounts and authentication (SPEC §5) through the real CLI, checked in the database too."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session as DbSession

from habitctl.cli.exitcodes import ExitCode
from habitctl.storage.models import LoginFailure, Session, User, UserCredentials
from tests.cli import PASSWORD, Cli
from tests.users import logged_in

LOGIN_HINT = "run `habitctl login`"
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def register(cli: Cli, username: str, password: str = PASSWORD, *args: str):  # type: ignore[no-untyped-def]
    return cli("register", "--username", username, "--password-stdin", *args, input=password + "\n")


def login(cli: Cli, username: str, password: str = PASSWORD, *args: str):  # type: ignore[no-untyped-def]
    return cli("login", "--username", username, "--password-stdin", *args, input=password + "\n")


def stored_token(cli: Cli, username: str | None = None) -> str:
    """The token the CLI keeps for `username` (default: the Cli's own user)."""
    tokens = json.loads((Path(cli.env["HABITCTL_STATE_DIR"]) / "tokens.json").read_text())
    (mine,) = tokens.values()  # one database
    return str(mine[username or cli.username])


def user_count(engine: Engine) -> int:
    with DbSession(engine) as db:
        return int(db.scalar(select(func.count()).select_from(User)) or 0)


def test_register_stores_the_username_lower_case(cli: Cli, engine: Engine) -> None:
    outcome = register(cli, "Alice_99", PASSWORD, "--json")
    assert outcome.exit_code == 0, outcome
    assert outcome.json()["username"] == "alice_99"
    with DbSession(engine) as db:
        assert db.scalars(select(User.username)).all() == ["alice_99"]
    assert login(cli, "ALICE_99").exit_code == 0


def test_register_refuses_a_bad_username(cli: Cli, engine: Engine) -> None:
    for username in ("ab", "a" * 33, "al-ice", "alice smith", "élise", "", "x" * 10_000):
        outcome = register(cli, username, PASSWORD, "--json")
        assert outcome.exit_code == ExitCode.INVALID_INPUT, (username, outcome)
        assert outcome.error()["field"] == "username"
        assert "3 to 32 characters" in outcome.error()["message"]
    assert user_count(engine) == 0


def test_register_refuses_a_short_password(cli: Cli, engine: Engine) -> None:
    outcome = register(cli, "alice", "seven77", "--json")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert outcome.error()["field"] == "password"
    assert "8" in outcome.error()["message"]
    assert user_count(engine) == 0


# SQLite is single-trust: a taken name is said to be taken. On PostgreSQL it answers like a
# free one (no enumeration): tests/test_attacks_login.py.
@SQLITE_ONLY
def test_a_taken_username_is_a_conflict_whatever_its_case(cli: Cli, engine: Engine) -> None:
    assert register(cli, "alice").exit_code == 0
    outcome = register(cli, "ALICE", "another password")
    assert outcome.exit_code == ExitCode.CONFLICT
    assert "'alice' is taken" in outcome.stderr
    assert user_count(engine) == 1


def role_passwords(engine: Engine, kind: str) -> list[tuple[str, str, datetime | None]]:
    """PostgreSQL: (role, stored password, valid until) of every member or session role."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.rolname, a.rolpassword, a.rolvaliduntil FROM member_logins m "
                "JOIN pg_authid a ON a.rolname = m.rolname WHERE m.kind = :kind"
            ),
            {"kind": kind},
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


@SQLITE_ONLY
def test_passwords_are_stored_as_argon2id_hashes(cli: Cli, engine: Engine) -> None:
    cli.signup()
    with DbSession(engine) as db:
        stored = db.scalars(select(UserCredentials.password_hash)).one()
    # argon2id parameters and salt, then the SHA-256 of the argon2id hash (docs/security.md).
    assert re.fullmatch(
        r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$sha256:[0-9a-f]{64}", stored
    )
    assert PASSWORD not in stored


@POSTGRES_ONLY
def test_postgres_keeps_only_scram_verifiers_of_passwords_and_session_secrets(
    cli: Cli, engine: Engine
) -> None:
    cli.signup()
    token = stored_token(cli)
    role, secret = token.split(".", 1)
    assert len(secret) >= 43  # 256 bits, URL-safe base64
    ((member, verifier, _),) = role_passwords(engine, "member")
    ((session, session_verifier, until),) = role_passwords(engine, "session")
    assert session == role
    for stored in (verifier, session_verifier):
        assert re.fullmatch(r"SCRAM-SHA-256\$4096:[^$]+\$[^:]+:.+", stored)
        assert PASSWORD not in stored
        assert secret not in stored
    assert until is not None
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)
    assert "alice" not in member  # role names carry no username


@SQLITE_ONLY
def test_only_the_sha256_digest_of_the_session_token_is_stored(cli: Cli, engine: Engine) -> None:
    cli.signup()
    token = stored_token(cli)
    with DbSession(engine) as db:
        session = db.scalars(select(Session)).one()
    assert session.token_digest != token
    assert session.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert len(token) >= 43  # 256 bits, URL-safe base64
    lifetime = session.expires_at - session.created_at
    assert lifetime == timedelta(days=30)


def test_without_a_keyring_the_token_file_is_private_and_the_cli_says_so_once(cli: Cli) -> None:
    assert register(cli, "alice").exit_code == 0
    outcome = login(cli, "alice")
    assert outcome.exit_code == 0
    assert outcome.stderr.count("no OS keyring") == 1
    state = Path(cli.env["HABITCTL_STATE_DIR"])
    for name in ("tokens.json", "sessions.json"):
        assert (state / name).stat().st_mode & 0o777 == 0o600
    assert state.stat().st_mode & 0o077 == 0
    assert "keyring" not in cli.ok("list").stderr
    assert "keyring" not in cli.ok("whoami").stderr


def test_habitctl_token_overrides_the_stored_token(cli: Cli) -> None:
    cli.signup()
    bob = logged_in(cli.as_user("bob"))
    assert cli.ok("whoami", "--json").json()["username"] == "alice"
    as_bob = cli("whoami", "--json", HABITCTL_TOKEN=bob.env["HABITCTL_TOKEN"])
    assert as_bob.json()["username"] == "bob"
    forged = cli("list", HABITCTL_TOKEN="not-a-token")
    assert forged.exit_code == ExitCode.AUTHENTICATION
    assert LOGIN_HINT in forged.stderr


def test_logout_revokes_the_session_and_forgets_the_token(cli: Cli, engine: Engine) -> None:
    cli.signup()
    token = stored_token(cli)
    assert cli.ok("logout").stdout.startswith("Logged out")
    if engine.dialect.name == "postgresql":  # the session's role is gone
        assert role_passwords(engine, "session") == []
    else:
        with DbSession(engine) as db:
            assert db.scalars(select(Session.revoked_at)).one() is not None
    assert token not in (Path(cli.env["HABITCTL_STATE_DIR"]) / "tokens.json").read_text()
    after = cli("list")
    assert after.exit_code == ExitCode.AUTHENTICATION
    assert LOGIN_HINT in after.stderr
    assert cli("whoami", HABITCTL_TOKEN=token).exit_code == ExitCode.AUTHENTICATION
    assert "not logged in" in cli.ok("logout").stdout


def test_whoami_shows_the_user(cli: Cli) -> None:
    logged_in(cli)
    assert cli.ok("whoami", "--json").json() == {
        "username": "alice",
        "timezone": "UTC",
        "telegram_username": None,
        "telegram_linked": False,
    }
    assert cli.ok("whoami").stdout.startswith("alice")


def test_every_habit_command_without_a_session_exits_4(cli: Cli) -> None:
    commands = [
        ("add", "stretch", "--at", "07:00", "--place", "home", "--reward", "tea"),
        ("list",),
        ("show", "1"),
        ("edit", "1", "--place", "garden"),
        ("rm", "1", "--yes"),
        ("done", "1"),
        ("whoami",),
        ("profile",),
    ]
    for args in commands:
        outcome = cli(*args, "--json")
        assert outcome.exit_code == ExitCode.AUTHENTICATION, (args, outcome)
        assert LOGIN_HINT in outcome.error()["message"]
        assert outcome.error()["code"] == "authentication"


def test_an_expired_session_asks_to_log_in_again(cli: Cli, engine: Engine) -> None:
    cli.signup()
    cli.add("stretch", "--at", "07:00", "--place", "home", "--reward", "tea")
    with DbSession(engine) as db, db.begin():
        if engine.dialect.name == "postgresql":  # PostgreSQL checks VALID UNTIL itself
            (role,) = [name for name, _, _ in role_passwords(engine, "session")]
            db.execute(text(f"ALTER ROLE \"{role}\" VALID UNTIL '2000-01-01'"))
        else:
            expired = datetime.now(UTC) - timedelta(seconds=1)
            db.execute(update(Session).values(expires_at=expired))
    outcome = cli("list")
    assert outcome.exit_code == ExitCode.AUTHENTICATION
    assert "expired" in outcome.stderr
    assert LOGIN_HINT in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert login(cli, "alice").exit_code == 0
    assert len(cli.ok("list", "--json").json()) == 1


def test_unknown_user_and_wrong_password_get_the_same_error(cli: Cli) -> None:
    assert register(cli, "alice").exit_code == 0
    unknown = login(cli, "nobody")
    wrong = login(cli, "alice", "wrong password")
    assert unknown.exit_code == wrong.exit_code == ExitCode.AUTHENTICATION
    assert unknown.stderr == wrong.stderr
    assert "alice" not in wrong.stderr
    huge = login(cli, "x" * 10_000)
    assert huge.exit_code == ExitCode.AUTHENTICATION
    assert huge.stderr == wrong.stderr


# PostgreSQL has no lock-out (anyone could lock anyone out): its own authentication and
# auth_delay pace guesses instead, tests/test_attacks_login.py.
@SQLITE_ONLY
def test_five_failures_lock_the_username_for_15_minutes(cli: Cli, engine: Engine) -> None:
    assert register(cli, "alice").exit_code == 0
    for _ in range(5):
        assert login(cli, "alice", "wrong password").exit_code == ExitCode.AUTHENTICATION
    locked = login(cli, "Alice", PASSWORD, "--json")
    assert locked.exit_code == ExitCode.AUTHENTICATION
    message = locked.error()["message"]
    assert "until" in message
    until = datetime.strptime(message.split("until ")[1][:19], "%Y-%m-%d %H:%M:%S")
    expected = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=15)
    assert abs(until - expected) < timedelta(minutes=1)
    assert not (Path(cli.env["HABITCTL_STATE_DIR"]) / "tokens.json").exists()
    # Another name is not affected, and failures older than the window no longer count.
    assert "until" not in login(cli, "bob", "wrong password").stderr
    with DbSession(engine) as db, db.begin():
        db.execute(
            update(LoginFailure).values(attempted_at=datetime.now(UTC) - timedelta(minutes=16))
        )
    assert login(cli, "alice").exit_code == 0


@SQLITE_ONLY
def test_four_failures_do_not_lock_and_a_success_resets_the_count(cli: Cli) -> None:
    assert register(cli, "alice").exit_code == 0
    for _ in range(4):
        login(cli, "alice", "wrong password")
    assert login(cli, "alice").exit_code == 0
    # Without the reset, this would be the fifth failure and lock the name.
    login(cli, "alice", "wrong password")
    assert login(cli, "alice").exit_code == 0


def test_password_stdin_must_carry_a_password_and_a_pipe_needs_the_flag(cli: Cli) -> None:
    empty = cli("register", "--username", "alice", "--password-stdin", input="\n")
    assert empty.exit_code == ExitCode.INVALID_INPUT
    assert "password" in empty.stderr
    piped = cli("login", "--username", "alice", input=PASSWORD + "\n")
    assert piped.exit_code == ExitCode.INVALID_INPUT
    assert "--password-stdin" in piped.stderr
    no_name = cli("login", "--password-stdin", input=PASSWORD + "\n")
    assert no_name.exit_code == ExitCode.INVALID_INPUT
    assert "--username" in no_name.stderr


def test_profile_refuses_a_timezone_that_is_not_iana(cli: Cli) -> None:
    logged_in(cli)
    for zone in ("Mars/Olympus", "europe/berlin", "", "../etc/passwd", "UTC\0", "A" * 10_000):
        outcome = cli("profile", "--timezone", zone, "--json")
        assert outcome.exit_code == ExitCode.INVALID_INPUT, (zone[:20], outcome)
        assert outcome.error()["field"] == "timezone"
        assert len(outcome.stderr) < 400
    assert cli.ok("profile", "--json").json()["timezone"] == "UTC"


def test_a_new_timezone_moves_every_reminder_to_the_new_local_time(cli: Cli) -> None:
    logged_in(cli)
    useful = cli.add("stretch", "--at", "07:30", "--place", "home", "--reward", "tea")
    pleasant = cli.add("tea", "--at", "07:35", "--place", "home", "--pleasant")
    assert useful["next_reminder_at"].endswith("T07:30:00Z")
    profile = cli.ok("profile", "--timezone", "Asia/Tokyo", "--json").json()
    assert profile["timezone"] == "Asia/Tokyo"
    after = {habit["id"]: habit for habit in cli.ok("list", "--json").json()}
    moved = after[useful["id"]]
    assert moved["timezone"] == "Asia/Tokyo"
    assert moved["time"] == "07:30"
    assert moved["next_reminder_at"].endswith("T22:30:00Z")  # 07:30 in Tokyo is 22:30 UTC
    assert after[pleasant["id"]]["next_reminder_at"] is None


def test_profile_sets_the_telegram_username(cli: Cli) -> None:
    logged_in(cli)
    profile = cli.ok("profile", "--telegram-username", "@alice_t", "--json").json()
    assert profile["telegram_username"] == "alice_t"
    too_long = cli("profile", "--telegram-username", "x" * 10_000)
    assert too_long.exit_code == ExitCode.INVALID_INPUT
    assert cli.ok("profile", "--json").json()["telegram_username"] == "alice_t"
