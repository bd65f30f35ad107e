"""Fixtures: isolated habitctl directories, and every storage test on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from habitctl.storage.engine import make_engine, make_sessionmaker
from habitctl.storage.migrate import upgrade
from habitctl.storage.roles import ensure_roles, secure_database
from tests.attack import World
from tests.cli import Cli
from tests.daemon_harness import DaemonProcess, Start
from tests.fakebot import FakeBotAPI
from tests.pg import ROLE_PASSWORDS, PostgresCluster, find_binaries, missing_postgres, role_url

BACKENDS = ["sqlite", "postgresql"]
_TEMPLATE = "habitctl_template"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every habitctl directory at a temp dir and drop any HABITCTL_* from the caller."""
    for name in list(os.environ):
        if name.startswith("HABITCTL_") and name != "HABITCTL_REQUIRE_POSTGRES":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    for kind in ("DATA", "CONFIG", "STATE"):
        monkeypatch.setenv(f"HABITCTL_{kind}_DIR", str(home / kind.lower()))
    # No desktop keyring here: exercise the 0600 file fallback deterministically.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("NO_COLOR", "1")
    # python-telegram-bot 22 warns on int retry_after unless told to use timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    monkeypatch.setenv("TZ", "UTC")
    return home


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster | None]:
    """One throwaway cluster per test process, with a migrated template database."""
    bindir = find_binaries()
    if bindir is None:
        if os.environ.get("HABITCTL_REQUIRE_POSTGRES") == "1":
            missing_postgres()
        yield None
        return
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        cluster.execute(f"CREATE DATABASE {_TEMPLATE}")
        admin = make_engine(cluster.url(_TEMPLATE))
        ensure_roles(admin, ROLE_PASSWORDS)  # as `habitctl db roles` does
        admin.dispose()
        owner = make_engine(role_url(cluster.url(_TEMPLATE), "habitctl_owner"))
        upgrade(owner)  # as `habitctl db upgrade` does, as the owner role
        owner.dispose()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "habitctl.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def fresh_postgres_database(cluster: PostgresCluster | None) -> str:
    if cluster is None:
        missing_postgres()
    name = f"t{os.getpid()}_{next(_counter)}"
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    # A database's own rights are not copied from its template.
    admin = make_engine(cluster.url(name))
    try:
        with admin.begin() as conn:
            secure_database(conn, name)
    finally:
        admin.dispose()
    return cluster.url(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
) -> str:
    """A migrated, empty database of the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "habitctl.db"
        shutil.copyfile(sqlite_template, path)
        path.chmod(0o600)
        return f"sqlite:///{path}"
    return fresh_postgres_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def cli(database_url: str, isolated_environment: Path) -> Cli:
    """A CLI for a not-yet-registered user "alice" on the test's database."""
    return Cli(database_url, isolated_environment, "alice")


@pytest.fixture(scope="session")
def fake_bot_server() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def fake_bot(fake_bot_server: FakeBotAPI) -> FakeBotAPI:
    """The fake Telegram Bot API, with no calls, rules or updates left from other tests."""
    if not fake_bot_server.running:
        fake_bot_server.start()
    fake_bot_server.reset()
    return fake_bot_server


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster | None) -> str:
    """A fresh PostgreSQL database (admin URL), for tests that are PostgreSQL-only."""
    return fresh_postgres_database(pg_cluster)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Start]:
    """Start `habitctl-daemon` processes; any still running are killed at the end."""
    started: list[DaemonProcess] = []

    def start(env: dict[str, str], *args: str) -> DaemonProcess:
        process = DaemonProcess(env, tmp_path / f"daemon-{len(started)}.log", *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: it is stopped and started again."""
    bindir = find_binaries()
    if bindir is None:
        missing_postgres()
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        cluster.execute("CREATE DATABASE habitctl")
        admin = make_engine(cluster.url("habitctl"))
        ensure_roles(admin, ROLE_PASSWORDS)  # as the shared cluster: roles, then the owner
        admin.dispose()
        owner = make_engine(role_url(cluster.url("habitctl"), "habitctl_owner"))
        upgrade(owner)
        owner.dispose()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def world(cli: Cli) -> Iterator[World]:
    """Alice and Bob with habits, for the attack suites (tests/attack.py)."""
    found = World(cli)
    yield found
    found.close()
