"""A throwaway PostgreSQL cluster started from the machine's binaries.

Used by the test suite and the benchmarks. As root, `initdb` and `postgres` run as the
`postgres` OS user on a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import psycopg2

# What the suite's service roles authenticate with (scram-sha-256 over TCP, like production);
# `postgres`, the superuser the fixtures use, stays trusted.
ROLE_PASSWORDS = {
    "habitctl_owner": "owner-test-password",
    "habitctl_cli": "gate-test-password",
    "habitctl_daemon": "daemon-test-password",
    "habitctl_api": "api-test-password",
}
# Every failed authentication waits this long server-side (auth_delay), short for tests.
AUTH_DELAY_MS = 150


def find_binaries() -> Path | None:
    """The directory holding initdb/pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """initdb + pg_ctl on a free port; `url(dbname)` gives SQLAlchemy URLs for the superuser."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="habitctl-pg-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale",
            "C",
        )
        # As a shared server would be set up: every role but the fixtures' superuser proves
        # its password with SCRAM over TCP.
        hba = self.datadir / "pg_hba.conf"
        hba.write_text(
            "local all postgres trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        if self.as_root:
            shutil.chown(hba, "postgres", "postgres")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_preload_libraries=auth_delay "
            f"-c auth_delay.milliseconds={AUTH_DELAY_MS}"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str = "") -> str:
        """A SQLAlchemy URL; habitctl's service roles get their test password by default."""
        password = password or ROLE_PASSWORDS.get(user, "")
        auth = f"{user}:{password}" if password else user
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        """Run SQL outside a transaction (CREATE DATABASE and friends)."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1")
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def role_url(url: str, role: str) -> str:
    """The same database as one of habitctl's service roles, with its password; SQLite URLs
    are returned as they are: SQLite has no roles."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    password = ROLE_PASSWORDS.get(role)
    return parsed.set(username=role, password=password).render_as_string(hide_password=False)


def missing_postgres() -> NoReturn:
    """Skip a PostgreSQL case, visibly; fail instead when HABITCTL_REQUIRE_POSTGRES=1 (CI)."""
    import pytest

    reason = "PostgreSQL binaries (initdb, pg_ctl) not found"
    if os.environ.get("HABITCTL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} and HABITCTL_REQUIRE_POSTGRES=1")
    pytest.skip(f"{reason} (set HABITCTL_REQUIRE_POSTGRES=1 to fail instead)")
