"""Running `habitctl` in tests as people do: real arguments, real database, real exit codes.

`Cli` invokes the real Typer app in-process (fast) with a per-user state directory, so
several users can share one database. `run_habitctl` runs the installed console script as
a separate process for the end-to-end checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from habitctl.cli.app import app
from tests.pg import role_url

PASSWORD = "correct horse battery"


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> dict[str, Any]:
        return json.loads(self.stderr)["error"]  # type: ignore[no-any-return]


class Cli:
    def __init__(self, database_url: str, home: Path, username: str = "anonymous") -> None:
        self.database_url = database_url  # the test's admin view; the CLI itself runs as:
        self.url = role_url(database_url, "habitctl_cli")
        self.home = home
        self.username = username
        self.env = {
            "HABITCTL_DATABASE_URL": self.url,
            "HABITCTL_STATE_DIR": str(home / f"state-{username}"),
        }

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Outcome:
        result = CliRunner().invoke(
            app, list(args), input=input, env={**self.env, **env}, catch_exceptions=False
        )
        return Outcome(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, input: str | None = None, **env: str) -> Outcome:
        outcome = self(*args, input=input, **env)
        assert outcome.exit_code == 0, outcome
        return outcome

    def as_user(self, username: str) -> Cli:
        return Cli(self.database_url, self.home, username)

    def signup(self, password: str = PASSWORD) -> Cli:
        """Register and log in as this CLI's user."""
        self.ok("register", "--username", self.username, "--password-stdin", input=password + "\n")
        self.ok("login", "--username", self.username, "--password-stdin", input=password + "\n")
        return self

    def add(self, *args: str) -> dict[str, Any]:
        return self.ok("add", *args, "--json").json()  # type: ignore[no-any-return]


def run_habitctl(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a separate process."""
    script = Path(sys.executable).with_name("habitctl")
    return subprocess.run(
        [str(script), *args],
        input=input,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
