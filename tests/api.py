"""The public HTTP endpoint in tests: the real app on a real database, seeded through the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from habitctl.api import create_app
from habitctl.config import ApiSettings, Settings
from tests.cli import Cli
from tests.conftest import fresh_postgres_database
from tests.pg import PostgresCluster, role_url


@contextmanager
def api_client(
    database_url: str,
    cors_origins: list[str] | None = None,
    *,
    role: str | None = "habitctl_api",
) -> Iterator[TestClient]:
    """The app as `habitctl serve` runs it; on PostgreSQL as `role` (None: the URL's own)."""
    settings = Settings(
        database_url=role_url(database_url, role) if role else database_url,
        api=ApiSettings(cors_origins=cors_origins or []),
    )
    # raise_server_exceptions=False: a bug must show as the 500 a client would get.
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def login_role_database(cluster: PostgresCluster | None) -> tuple[str, str]:
    """A fresh database and a role of its own that may read every table: (its URL, the role).
    The tests that cut a server's connections use it, so no other test's role is touched."""
    database = fresh_postgres_database(cluster).rsplit("/", 1)[1]
    assert cluster is not None
    role = f"api_{database}"
    password = "api-outage-password"  # non-superusers authenticate with SCRAM (tests/pg.py)
    cluster.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    cluster.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", database)
    return cluster.url(database, user=role, password=password), role


def add_public(cli: Cli, action: str, *options: str) -> dict[str, Any]:
    """A useful public habit with a reward unless `options` say otherwise."""
    if not any(option in options for option in ("--pleasant", "--linked", "--reward")):
        options = (*options, "--reward", "a walk")
    return cli.add(action, "--at", "07:30", "--place", "home", "--public", *options)


def crawl(client: TestClient, limit: int) -> list[dict[str, Any]]:
    """Every item of every page, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(10_000):
        response = client.get("/public/habits", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]
    raise AssertionError("pagination did not end")
