"""Before the first habit: a schema behind on each backend, and shell completion."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from habitctl.cli.exitcodes import ExitCode
from habitctl.storage import migrate
from habitctl.storage.engine import SCHEMA_REVISION
from tests.cli import PASSWORD, Cli, run_habitctl


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_postgresql_schema_behind_exits_7_until_db_upgrade(cli: Cli, engine: Engine) -> None:
    migrate.downgrade(engine, "base")
    for args in (("public",), ("register", "--username", "alice", "--password-stdin")):
        outcome = cli(*args, "--json", input=PASSWORD + "\n")
        assert outcome.exit_code == ExitCode.STORAGE, outcome
        assert "run `habitctl db upgrade`" in outcome.error()["message"]
        assert outcome.error()["code"] == "schema_behind"
    assert migrate.current(engine) is None  # the CLI never migrates a shared database itself
    refused = cli("db", "upgrade")  # members' role may not change the schema
    assert refused.exit_code == ExitCode.AUTHENTICATION
    assert "as the database owner" in refused.stderr
    cli.ok("--database-url", cli.database_url, "db", "upgrade")  # the admin may
    cli.signup()
    assert cli.ok("list", "--json").json() == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_sqlite_schema_behind_is_migrated_automatically(cli: Cli, engine: Engine) -> None:
    migrate.downgrade(engine, "base")
    cli.signup()
    assert migrate.current(engine) == SCHEMA_REVISION
    assert cli.ok("list", "--json").json() == []


def test_shell_completion_script_is_printed(isolated_environment: Path) -> None:
    result = run_habitctl("completion", "bash", env={"SHELL": "/bin/bash"})
    assert result.returncode == 0, result.stderr
    assert "_habitctl_completion" in result.stdout
    assert "complete " in result.stdout
    assert "Traceback" not in result.stderr
