"""Running the real `habitctl-daemon` against a test database and the fake Bot API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from habitctl.storage.models import Habit, ReminderDelivery, User, UserContact
from tests.fakebot import FakeBotAPI
from tests.pg import role_url

BOT_TOKEN = "123:TEST-SECRET-TOKEN"
Start = Callable[..., "DaemonProcess"]


def daemon_env(database_url: str, fake: FakeBotAPI, **overrides: str) -> dict[str, str]:
    env = {
        "HABITCTL_DATABASE_URL": role_url(database_url, "habitctl_daemon"),
        "HABITCTL_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "HABITCTL_TELEGRAM_API_BASE_URL": fake.base_url,
        "HABITCTL_DAEMON_POLL_INTERVAL_SECONDS": "0.2",
        "HABITCTL_DAEMON_SEND_RATE_PER_SECOND": "0",
        # A killed replica's leases run out this long after: short, so tests need not wait.
        "HABITCTL_DAEMON_LEASE_SECONDS": "3",
        "PTB_TIMEDELTA": "true",
    }
    env.update(overrides)
    return env


class DaemonProcess:
    """`habitctl-daemon` as a child process, its log in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log_path = log
        script = Path(sys.executable).with_name("habitctl-daemon")
        self.handle = log.open("ab")
        self.proc = subprocess.Popen(
            [str(script), *args],
            env={**os.environ, **env},
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20) -> None:
        wait_until(lambda: text in self.log(), timeout, f"{text!r} in daemon log:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.handle.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.handle.close()


def wait_until(condition: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def seed_due(
    engine: Engine,
    *,
    users: int,
    habits_per_user: int = 1,
    overdue: timedelta = timedelta(minutes=1),
    chat_base: int = 10_000,
    timezone: str = "UTC",
) -> list[int]:
    """Users with linked chats and useful habits due `overdue` ago, set-based; the habit ids."""
    now = datetime.now(UTC)
    due = (now - overdue).replace(microsecond=0)
    with engine.begin() as conn:
        first = (conn.scalar(select(func.max(User.id))) or 0) + 1
        if engine.dialect.name == "postgresql":
            # The time zone rule reads all of pg_timezone_names per row (~25 ms): 1,000 users
            # took 29 s. These zones are valid by construction; the rule has tests of its own.
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(
            insert(User),
            [
                {
                    "id": first + i,
                    "username": f"user{first + i}",
                    "timezone": timezone,
                    "created_at": now,
                }
                for i in range(users)
            ],
        )
        conn.execute(
            insert(UserContact),
            [
                {"user_id": first + i, "telegram_chat_id": chat_base + first + i}
                for i in range(users)
            ],
        )
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
            conn.exec_driver_sql("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
        rows = [
            {
                "user_id": first + i,
                "action": f"stretch {j}",
                "place": "home",
                "time": clock_time(due.hour, due.minute),
                "periodicity_days": 1,
                "duration_seconds": 60,
                "is_pleasant": False,
                "reward": "tea",
                "is_public": False,
                "next_reminder_at": due,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(users)
            for j in range(habits_per_user)
        ]
        ids = conn.scalars(insert(Habit).returning(Habit.id), rows).all()
    return list(ids)


def deliveries(engine: Engine, status: str = "sent") -> list[tuple[int, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(ReminderDelivery.habit_id, ReminderDelivery.occurrence_at).where(
                ReminderDelivery.status == status
            )
        ).all()
    return [(row[0], row[1]) for row in rows]


def set_schedule(engine: Engine, habit_ids: list[int], at: clock_time, due: datetime) -> None:
    """Give habits an exact local time and next occurrence (seed_due truncates to minutes)."""
    from sqlalchemy import update

    with engine.begin() as conn:
        conn.execute(
            update(Habit).where(Habit.id.in_(habit_ids)).values(time=at, next_reminder_at=due)
        )


def habit_chats(engine: Engine) -> dict[int, int]:
    """Habit id → its owner's chat id."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Habit.id, UserContact.telegram_chat_id).join(
                UserContact, UserContact.user_id == Habit.user_id
            )
        ).all()
    return {row[0]: row[1] for row in rows}


def most_in_window(stamps: list[float], window: float = 1.0) -> int:
    """The most `stamps` inside any half-open window [t, t + window)."""
    ordered = sorted(stamps)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
