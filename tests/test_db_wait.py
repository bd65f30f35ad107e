"""`habitctl db upgrade --wait SECONDS`: a database that is still starting is waited for.

Compose's `migrate` starts as soon as `db` answers `pg_isready`, or — on engines that ignore
`service_healthy` — as soon as `db` is created. The database is played here by a TCP relay
to the test's PostgreSQL that opens its port only after a delay.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.cli import Cli
from tests.pg import free_port


@contextlib.contextmanager
def late_listener(target_port: int, delay: float) -> Iterator[int]:
    """A port that refuses connections for `delay` seconds, then relays them to `target_port`."""
    port = free_port()
    stop = threading.Event()
    opened: list[socket.socket] = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        if stop.wait(delay):
            return
        with socket.create_server(("127.0.0.1", port)) as server:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(("127.0.0.1", target_port))
                opened.extend((client, upstream))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        for sock in opened:
            sock.close()


@pytest.fixture
def admin(isolated_environment: Path) -> Cli:
    """A CLI whose every call names its database with --database-url."""
    return Cli(f"sqlite:///{isolated_environment / 'unused.db'}", isolated_environment)


def _via(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@pytest.mark.postgres_only
def test_upgrade_waits_for_a_database_that_opens_its_port_late(pg_url: str, admin: Cli) -> None:
    port = make_url(pg_url).port
    assert port is not None
    with late_listener(port, delay=3) as late:
        started = time.monotonic()
        outcome = admin("--database-url", _via(pg_url, late), "db", "upgrade", "--wait", "60")
    assert outcome.exit_code == 0, outcome
    assert time.monotonic() - started >= 3
    assert "revision" in outcome.stdout
    assert "waiting for the database" in outcome.stderr


def test_the_wait_is_bounded_and_says_what_failed(admin: Cli) -> None:
    nowhere = f"postgresql+psycopg2://habitctl:secret-pw@127.0.0.1:{free_port()}/habitctl"
    started = time.monotonic()
    outcome = admin("--database-url", nowhere, "db", "upgrade", "--wait", "2")
    elapsed = time.monotonic() - started
    assert outcome.exit_code == 7, outcome
    assert 2 <= elapsed < 30
    assert "did not answer within 2 s" in outcome.stderr
    assert "secret-pw" not in outcome.stdout + outcome.stderr


def test_without_wait_upgrade_tries_once(admin: Cli) -> None:
    nowhere = f"postgresql+psycopg2://habitctl:pw@127.0.0.1:{free_port()}/habitctl"
    started = time.monotonic()
    outcome = admin("--database-url", nowhere, "db", "upgrade")
    assert outcome.exit_code == 7, outcome
    assert time.monotonic() - started < 15
    assert "waiting" not in outcome.stderr


def test_a_negative_wait_is_refused(admin: Cli) -> None:
    outcome = admin("db", "upgrade", "--wait", "-1")
    assert outcome.exit_code == 2, outcome
    assert "--wait" in outcome.stderr
