"""The endpoint's pooled connections: a database that drops them costs one request, not one
per pooled connection, and a page is the same through every connection of the pool."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg2

from tests.api import api_client, login_role_database
from tests.pg import PostgresCluster


def _backends(cluster: PostgresCluster, role: str) -> int:
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,))
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


def test_connections_cut_under_the_server_fail_one_request_then_it_recovers(
    pg_cluster: PostgresCluster | None,
) -> None:
    url, role = login_role_database(pg_cluster)
    assert pg_cluster is not None
    with api_client(url, role=None) as client:
        # Several requests at once: the pool holds several open connections afterwards.
        with ThreadPoolExecutor(8) as pool:
            warm = list(pool.map(lambda _: client.get("/public/habits").status_code, range(64)))
        assert set(warm) == {200}
        assert _backends(pg_cluster, role) > 1, "the test needs several pooled connections"
        pg_cluster.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        )
        after = [client.get("/public/habits").status_code for _ in range(12)]
    assert after.count(503) <= 1, after
    assert set(after) <= {200, 503}
    assert after[-1] == 200
