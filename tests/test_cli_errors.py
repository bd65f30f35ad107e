"""Errors that say what to do, with the exit code SPEC §6 gives them (3 settings, 7 storage,
2 usage — as JSON too under `--json`)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli, run_habitctl
from tests.users import logged_in


def test_bad_cors_origins_variable_is_exit_3_naming_the_variable(cli: Cli) -> None:
    outcome = cli("config", "show", HABITCTL_API_CORS_ORIGINS="not json")
    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome
    assert "HABITCTL_API_CORS_ORIGINS" in outcome.stderr
    assert "api.cors_origins" in outcome.stderr
    assert "unexpected" not in outcome.stderr


def test_a_bad_value_names_the_key_and_where_it_came_from(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "habitctl.toml"
    config.write_text("[daemon]\nbatch_size = 'lots'\n")
    from_file = cli("--config", str(config), "config", "show", "--json")
    assert from_file.exit_code == ExitCode.INVALID_INPUT
    assert from_file.error()["field"] == "daemon.batch_size"
    assert str(config) in from_file.error()["message"]
    from_env = cli("config", "show", HABITCTL_DAEMON_BATCH_SIZE="lots")
    assert from_env.exit_code == ExitCode.INVALID_INPUT
    assert "HABITCTL_DAEMON_BATCH_SIZE" in from_env.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@localhost/habits", "sqlite:///"),
        ("sqlite:relative.db", "not a database URL"),
    ],
)
def test_a_bad_database_url_option_is_exit_3_naming_the_option(
    cli: Cli, url: str, says: str
) -> None:
    outcome = cli("--database-url", url, "list", "--json")
    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome
    error = outcome.error()
    assert error["field"] == "database_url"
    assert "--database-url" in error["message"]
    assert says in error["message"]
    assert "unexpected" not in error["message"]


def test_a_bad_database_url_variable_names_the_variable(cli: Cli) -> None:
    outcome = cli("list", HABITCTL_DATABASE_URL="mysql://u@localhost/habits")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert "HABITCTL_DATABASE_URL" in outcome.stderr


def test_postgresql_without_a_driver_means_psycopg2(
    pg_url: str, isolated_environment: Path
) -> None:
    cli = logged_in(Cli(pg_url, isolated_environment, "alice"))
    plain = make_url(cli.url).set(drivername="postgresql").render_as_string(hide_password=False)
    assert plain.startswith("postgresql://")
    outcome = cli("list", "--json", HABITCTL_DATABASE_URL=plain)
    assert outcome.exit_code == 0, outcome
    assert outcome.json() == []


def test_an_sqlite_file_in_a_missing_directory_is_exit_7_and_creates_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    outcome = cli("--database-url", f"sqlite:///{missing}/x.db", "list")
    assert outcome.exit_code == ExitCode.STORAGE, outcome
    assert str(missing) in outcome.stderr
    assert not missing.parent.exists()


def test_the_default_data_directory_is_still_created(isolated_environment: Path) -> None:
    env = {"HABITCTL_STATE_DIR": str(isolated_environment / "state")}
    result = run_habitctl("public", env=env)
    assert result.returncode == 0, result.stderr
    assert (isolated_environment / "data" / "habitctl.db").exists()


def test_a_data_directory_that_cannot_be_made_is_exit_7(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"HABITCTL_DATA_DIR": str(blocker / "habitctl"), "HABITCTL_STATE_DIR": str(tmp_path)}
    result = run_habitctl("public", env=env)
    assert result.returncode == ExitCode.STORAGE, result.stderr
    assert str(blocker / "habitctl") in result.stderr
    assert "Traceback" not in result.stderr
    assert "HABITCTL_DATA_DIR" in result.stderr


def test_a_read_only_sqlite_database_says_so_with_exit_7(alice_sqlite: Cli) -> None:
    path = make_url(alice_sqlite.url).database
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    outcome = alice_sqlite("add", "read", "--at", "07:00", "--place", "bed", "--reward", "tea",
                           HABITCTL_DATABASE_URL=read_only)  # fmt: skip
    assert outcome.exit_code == ExitCode.STORAGE, outcome
    assert "read-only" in outcome.stderr
    assert "server is running" not in outcome.stderr
    with sqlite3.connect(str(path)) as conn:
        assert conn.execute("SELECT count(*) FROM habits").fetchone() == (0,)


@pytest.fixture
def alice_sqlite(tmp_path: Path, sqlite_template: Path, isolated_environment: Path) -> Cli:
    path = tmp_path / "ro.db"
    path.write_bytes(sqlite_template.read_bytes())
    return logged_in(Cli(f"sqlite:///{path}", isolated_environment, "alice"))


@pytest.mark.parametrize(
    "args",
    [
        ("add", "--json"),
        ("list", "--json", "--bogus"),
        ("done", "1", "--json", "--date"),
        ("public", "--json", "--per-page", "500"),
        ("--json-less", "list"),
    ],
)
def test_usage_errors_under_json_are_json_on_stderr_with_exit_2(
    cli: Cli, args: tuple[str, ...]
) -> None:
    outcome = cli(*args)
    assert outcome.exit_code == ExitCode.USAGE, outcome
    if "--json" in args:
        error = json.loads(outcome.stderr)["error"]
        assert error["code"] == "usage"
        assert error["message"]
        assert "Usage:" not in outcome.stderr
    else:
        assert "Usage:" in outcome.stderr  # without --json people get the usual help pointer


def test_a_duration_that_is_not_a_number_is_invalid_input_like_zero(cli: Cli) -> None:
    logged_in(cli)
    for value in ("abc", "0", "1.5"):
        outcome = cli("add", "read", "--at", "07:00", "--place", "bed", "--reward", "tea",
                      "--duration", value, "--json")  # fmt: skip
        assert outcome.exit_code == ExitCode.INVALID_INPUT, (value, outcome)
        assert outcome.error()["field"] == "duration_seconds"
    every = cli("add", "read", "--at", "07:00", "--place", "bed", "--reward", "tea",
                "--every", "weekly", "--json")  # fmt: skip
    assert (every.exit_code, every.error()["field"]) == (ExitCode.INVALID_INPUT,
                                                         "periodicity_days")  # fmt: skip
