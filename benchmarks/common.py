"""Shared by the benchmarks: a throwaway PostgreSQL, the 1,000,000-habit data set, verdicts.

Scripts run as `python benchmarks/<name>.py` from the repository root; they put the root
(not `benchmarks/`, whose `http.py` would shadow the standard library) on `sys.path`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from tests.pg import PostgresCluster, find_binaries

REPO_ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench"


@contextlib.contextmanager
def postgres() -> Iterator[PostgresCluster]:
    """A started, empty cluster with database `bench`; removed afterwards whatever happens."""
    bindir = find_binaries()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        cluster.wait_ready()
        cluster.execute(f"CREATE DATABASE {DATABASE}")
        yield cluster
    finally:
        cluster.remove()


def migrated_engine(cluster: PostgresCluster, **kwargs: object) -> Engine:
    from habitctl.storage.migrate import upgrade

    engine = create_engine(cluster.url(DATABASE), **kwargs)  # type: ignore[arg-type]
    upgrade(engine)
    return engine


# Set-based generation: one INSERT … SELECT generate_series per table. Foreign-key triggers
# are skipped for the load (session_replication_role = replica; every reference is valid by
# construction). Users are in UTC with a linked chat; habits belong to user (id-1) % users + 1,
# so habit ids 1..users belong to distinct users. Every 10th habit is pleasant (no reminder,
# no reward); 30 % are public; the others are due in 1 to 25 hours (nothing due now).
SEED_SQL = """
SET session_replication_role = replica;
INSERT INTO users (id, username, password_hash, timezone, telegram_chat_id, created_at)
SELECT g, 'user' || g, 'x', 'UTC', 1000000000 + g, now()
FROM generate_series(1, :users) AS g;
SELECT setval('users_id_seq', :users);
INSERT INTO habits (id, user_id, action, place, time, periodicity_days, duration_seconds,
                    is_pleasant, reward, linked_habit_id, is_public, next_reminder_at,
                    created_at, updated_at)
SELECT g,
       (g - 1) % :users + 1,
       'do ' || (g % 97 + 1) || ' push-ups after coffee',
       'the living room',
       make_time(g % 24, g % 60, 0),
       1 + g % 7,
       1 + g % 120,
       g % 10 = 9,
       CASE WHEN g % 10 = 9 THEN NULL ELSE 'a cup of tea' END,
       NULL,
       g % 10 < 3,
       CASE WHEN g % 10 = 9 THEN NULL
            ELSE now() + make_interval(mins => 60 + g % 1440) END,
       now(), now()
FROM generate_series(1, :habits) AS g;
SELECT setval('habits_id_seq', :habits);
SET session_replication_role = DEFAULT;
"""


def seed(engine: Engine, habits: int, users: int) -> float:
    """Fill users and habits set-based, then ANALYZE; returns the seconds it took."""
    start = time.monotonic()
    with engine.begin() as conn:
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                conn.execute(text(statement), {"users": users, "habits": habits})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE users")
        conn.exec_driver_sql("VACUUM ANALYZE habits")
    return time.monotonic() - start


def verdict(name: str, measured: float, limit: float, unit: str, *, at_most: bool) -> str:
    ok = measured <= limit if at_most else measured >= limit
    status = "MET" if ok else "MISSED"
    return f"budget {name}: measured {measured:.2f}{unit}, limit {limit:g}{unit}, {status}"


def machine() -> str:
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPUs, load average {load:.1f}"
