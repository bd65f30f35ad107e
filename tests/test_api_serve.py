"""`habitctl serve` as people run it: a real process on a real port, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from habitctl.cli.exitcodes import ExitCode
from tests.api import add_public
from tests.cli import Cli
from tests.pg import PostgresCluster, free_port, missing_postgres, role_url


def wait_until_healthy(base_url: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited {process.returncode}: {process.stderr}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url}/healthz did not answer within {timeout} s")


@contextmanager
def running(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A process that is stopped (SIGTERM, then SIGKILL) whatever the test does."""
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.communicate()


def test_serve_answers_over_http_and_stops_cleanly_on_sigterm(cli: Cli) -> None:
    cli.signup()
    habit = add_public(cli, "stretch")
    port = free_port()
    script = str(Path(sys.executable).with_name("habitctl"))
    env = {"HABITCTL_DATABASE_URL": role_url(cli.database_url, "habitctl_api")}
    with running([script, "serve", "--port", str(port)], env) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process)
        answer = httpx.get(f"{base}/public/habits/{habit['id']}", timeout=5)
        assert answer.status_code == 200
        assert answer.json()["action"] == "stretch"
        assert "server" not in answer.headers
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        _out, err = process.communicate()
    assert "Traceback" not in err
    assert "Application shutdown complete" in err


def test_serve_refuses_a_database_whose_schema_is_behind(
    pg_cluster: PostgresCluster | None, isolated_environment: Path, tmp_path: Path
) -> None:
    if pg_cluster is None:
        missing_postgres()
    name = f"empty_{os.getpid()}_{abs(hash(tmp_path))}"
    pg_cluster.execute(f"CREATE DATABASE {name}")
    cli = Cli(pg_cluster.url(name), isolated_environment)
    outcome = cli("serve", "--port", str(free_port()))
    assert outcome.exit_code == ExitCode.STORAGE
    assert "habitctl db upgrade" in outcome.stderr
