"""Shared by the benchmarks: a throwaway PostgreSQL, the 1,000,000-habit data set, verdicts.

Scripts run as `python benchmarks/<name>.py` from the repository root; they put the root
(not `benchmarks/`, whose `http.py` would shadow the standard library) on `sys.path`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text

from tests.pg import ROLE_PASSWORDS, PostgresCluster, find_binaries

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


def migrated_engine(cluster: PostgresCluster) -> Engine:
    """Roles created and the schema migrated as `habitctl db roles` / `db upgrade` do; the
    engine returned is the superuser's (for seeding and EXPLAIN)."""
    from habitctl.storage.migrate import upgrade

    admin = create_engine(cluster.url(DATABASE))
    try:
        from habitctl.storage.roles import ensure_roles
    except ImportError:  # before least-privilege roles: migrate as the superuser
        upgrade(admin)
        return admin
    ensure_roles(admin, ROLE_PASSWORDS)
    owner = create_engine(cluster.url(DATABASE, user="habitctl_owner"))
    try:
        upgrade(owner)
    finally:
        owner.dispose()
    return admin


def role_url(cluster: PostgresCluster, role: str) -> str:
    """The URL a component connects with: its own role when the roles exist."""
    engine = create_engine(cluster.url(DATABASE))
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            exists = found.first() is not None
    finally:
        engine.dispose()
    return cluster.url(DATABASE, user=role) if exists else cluster.url(DATABASE)


# Set-based generation: one INSERT … SELECT generate_series per table. Foreign-key triggers
# are skipped for the load (session_replication_role = replica; every reference is valid by
# construction). Users are in UTC with a linked chat; habits belong to user (id-1) % users + 1,
# so habit ids 1..users belong to distinct users. Every 10th habit is pleasant (no reminder,
# no reward); 30 % are public; the others are due in 1 to 25 hours (nothing due now).
# Credentials and Telegram contact columns live in `users` or, from revision 0002 on, in
# `user_credentials` / `user_contacts`: the columns are looked up, not assumed.
USERS_SQL = """
INSERT INTO {table} ({columns})
SELECT {values} FROM generate_series(1, :users) AS g
"""
USER_VALUES = {
    "id": "g",
    "user_id": "g",
    "username": "'user' || g",
    "password_hash": "'x'",
    "timezone": "'UTC'",
    "telegram_chat_id": "1000000000 + g",
    "created_at": "now()",
}
HABITS_SQL = """
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
FROM generate_series(1, :habits) AS g
"""


def seed(engine: Engine, habits: int, users: int) -> float:
    """Fill users and habits set-based, then VACUUM ANALYZE; returns the seconds it took."""
    start = time.monotonic()
    tables = inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in ("users", "user_credentials", "user_contacts"):
            if table not in tables:
                continue
            present = {c["name"] for c in inspect(conn).get_columns(table)}
            columns = [c for c in USER_VALUES if c in present]
            sql = USERS_SQL.format(
                table=table,
                columns=", ".join(columns),
                values=", ".join(USER_VALUES[c] for c in columns),
            )
            conn.execute(text(sql), {"users": users})
        conn.execute(text("SELECT setval('users_id_seq', :users)"), {"users": users})
        conn.execute(text(HABITS_SQL), {"users": users, "habits": habits})
        conn.execute(text("SELECT setval('habits_id_seq', :habits)"), {"habits": habits})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("users", "user_credentials", "user_contacts", "habits"):
            if table in tables:
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return time.monotonic() - start


def verdict(name: str, measured: float, limit: float, unit: str, *, at_most: bool) -> str:
    ok = measured <= limit if at_most else measured >= limit
    status = "MET" if ok else "MISSED"
    return f"budget {name}: measured {measured:.2f}{unit}, limit {limit:g}{unit}, {status}"


def machine() -> str:
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPUs, load average {load:.1f}"


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy (user, system, interrupts; not idle, not
    I/O wait, not stolen by other tenants) since boot, from /proc/stat; 0 elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (/proc/PID/stat); 0 where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interrupt(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (py-spy writes its profile on it), then SIGKILL after 30 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
