"""Operating the daemon (issue 5, "Done when" 3 and 9, SPEC §7 "Operations"): stop signals,
`--check`, `--once`, one daemon per SQLite file, JSON logs, the token kept out of logs,
sd_notify, the systemd unit, and DST nights through the real worker."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from daemon.pacing import MemorySlots, Pacer
from daemon.recorder import Recorder
from daemon.telegram import make_bot
from daemon.worker import Worker
from habitctl.storage.engine import make_engine, make_sessionmaker
from habitctl.storage.models import Habit, ReminderDelivery
from tests.daemon_harness import (
    BOT_TOKEN,
    Start,
    daemon_env,
    deliveries,
    seed_due,
    set_schedule,
    wait_until,
)
from tests.fakebot import FakeBotAPI
from tests.pg import PostgresCluster, free_port

SCRIPT = Path(sys.executable).with_name("habitctl-daemon")
UNIT = Path(__file__).resolve().parent.parent / "daemon" / "habitctl-daemon.service"
SECRET = BOT_TOKEN.split(":", 1)[1]


def run_daemon(
    env: dict[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def next_reminders(engine: Engine) -> dict[int, datetime]:
    with engine.connect() as conn:
        rows = conn.execute(select(Habit.id, Habit.next_reminder_at)).all()
    return {row[0]: row[1] for row in rows}


# ------------------------------------------------------------------ 3. stop signals


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_stop_signal_finishes_the_message_in_flight_and_exits_0_within_10_s(
    stop_signal: int, pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    ids = seed_due(pg_engine, users=20)
    due = next_reminders(pg_engine)
    fake_bot.add_rules({"method": "sendMessage", "action": "slow", "delay": 3})
    daemon = daemons(
        daemon_env(
            pg_url,
            fake_bot,
            HABITCTL_DAEMON_SEND_RATE_PER_SECOND="5",
            HABITCTL_DAEMON_BATCH_SIZE="10",
        )
    )
    wait_until(fake_bot.sent_messages, 20, "a message in flight")
    asked = time.monotonic()
    daemon.proc.send_signal(stop_signal)
    code = daemon.proc.wait(10)
    assert time.monotonic() - asked < 10
    assert code == 0, daemon.log()
    assert "stopping: finishing the message in flight" in daemon.log()

    accepted = {
        (c["params"]["chat_id"], c["result"]["message_id"]) for c in fake_bot.sent_messages()
    }
    with pg_engine.connect() as conn:
        rows = conn.execute(
            select(
                ReminderDelivery.habit_id,
                ReminderDelivery.occurrence_at,
                ReminderDelivery.chat_id,
                ReminderDelivery.telegram_message_id,
                ReminderDelivery.status,
            )
        ).all()
    assert {row.status for row in rows} <= {"sent"}
    # Every recorded delivery is a message Telegram accepted, and every accepted one is
    # recorded: nothing half-done, so a restart repeats nothing.
    assert {(row.chat_id, row.telegram_message_id) for row in rows} == accepted
    assert 0 < len(rows) < len(ids)  # stopped part-way, the rest left for later
    delivered = {row.habit_id: row.occurrence_at for row in rows}
    after = next_reminders(pg_engine)
    for habit in ids:
        if habit in delivered:
            assert delivered[habit] == due[habit]
            assert after[habit] == due[habit].replace(second=0) + timedelta(days=1)
        else:
            assert after[habit] == due[habit]  # still due


# ------------------------------------------------------------------ 9. DST nights


DST_NIGHTS = {
    # zone, local time, simulated window (UTC), the instants expected (UTC)
    "berlin-spring-forward": (
        "Europe/Berlin",
        clock_time(2, 30),
        ("2026-03-27T12:00", "2026-03-31T12:00"),
        ["2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30", "2026-03-31T00:30"],
    ),
    "berlin-fall-back": (
        "Europe/Berlin",
        clock_time(2, 30),
        ("2026-10-23T12:00", "2026-10-26T12:00"),
        ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"],
    ),
    "new-york-fall-back": (
        "America/New_York",
        clock_time(1, 30),
        ("2026-10-30T12:00", "2026-11-02T12:00"),
        ["2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"],
    ),
    "new-york-morning": (
        "America/New_York",
        clock_time(8, 0),
        ("2026-10-30T18:00", "2026-11-02T18:00"),
        ["2026-10-31T12:00", "2026-11-01T13:00", "2026-11-02T13:00"],
    ),
    "lord-howe-half-hour-back": (
        "Australia/Lord_Howe",
        clock_time(1, 45),
        ("2026-04-03T00:00", "2026-04-06T00:00"),
        ["2026-04-03T14:45", "2026-04-04T14:45", "2026-04-05T15:15"],
    ),
}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("night", list(DST_NIGHTS))
def test_dst_nights_one_reminder_per_local_day_at_the_wall_clock_time(
    night: str,
    pg_url: str,
    pg_engine: Engine,
    fake_bot: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-process, on purpose: the daemon reads the time from PostgreSQL's `now()`, which a
    test cannot move to a DST night. So the real `Worker` runs here, against real PostgreSQL
    and the real python-telegram-bot talking to the fake Bot API, with only `database_now`
    replaced by a simulated clock stepped every 15 minutes and onto each expected instant
    (and the minute either side) across the night."""
    zone_name, at, (first, last), expected_text = DST_NIGHTS[night]
    zone = ZoneInfo(zone_name)
    expected = [_utc(e) for e in expected_text]
    [habit] = seed_due(pg_engine, users=1, timezone=zone_name)
    set_schedule(pg_engine, [habit], at, expected[0])

    steps = set()
    moment, end = _utc(first), _utc(last)
    while moment <= end:
        steps.add(moment)
        moment += timedelta(minutes=15)
    for instant in expected:
        steps |= {instant - timedelta(minutes=1), instant, instant + timedelta(minutes=1)}
    clock = {"now": _utc(first)}
    monkeypatch.setattr("daemon.worker.database_now", lambda _db: clock["now"])
    # Pacing works in real seconds while this test's clock jumps hours: leave it out.
    monkeypatch.setattr("daemon.pacing.CHAT_INTERVAL", 0.0)

    async def simulate() -> list[datetime]:
        bot = make_bot(BOT_TOKEN, fake_bot.base_url, connections=4)
        await bot.initialize()
        factory = make_sessionmaker(pg_engine)
        worker = Worker(
            factory=factory,
            bot=bot,
            pacer=Pacer(MemorySlots(), 0),
            recorder=Recorder(factory, "dst-test"),
            replica="dst-test",
            batch_size=10,
            grace=timedelta(minutes=30),
            lease=timedelta(seconds=30),
            stopping=asyncio.Event(),
        )
        sent_at = []
        try:
            for step in sorted(steps):
                clock["now"] = step
                report = await worker.tick()
                sent_at += [step] * report.sent
                assert report.failed == report.skipped == 0, report
        finally:
            await bot.shutdown()
        return sent_at

    sent_at = asyncio.run(simulate())

    assert sent_at == expected  # each at its instant, not a minute early or late
    local_days = [instant.astimezone(zone).date() for instant in sent_at]
    first_day = local_days[0]
    assert local_days == [first_day + timedelta(days=i) for i in range(len(expected))]
    assert sorted(occurrence for _, occurrence in deliveries(pg_engine)) == expected
    texts = [c["params"]["text"] for c in fake_bot.sent_messages()]
    assert texts == [texts[0]] * len(expected)
    assert texts[0].startswith(f"⏰ {at:%H:%M} — ")


# ------------------------------------------------------------------ 10. --check, --once


def test_check_exits_0_on_a_current_schema(database_url: str) -> None:
    result = run_daemon({"HABITCTL_DATABASE_URL": database_url}, "--check")
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_check_exits_7_when_the_database_is_unreachable() -> None:
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/habitctl"
    result = run_daemon({"HABITCTL_DATABASE_URL": url}, "--check")
    assert result.returncode == 7
    assert "unhealthy" in result.stderr
    assert "Connection refused" in result.stderr or "connect" in result.stderr


def test_check_exits_7_when_the_schema_is_behind(
    tmp_path: Path, pg_cluster: PostgresCluster | None
) -> None:
    empty_sqlite = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run_daemon({"HABITCTL_DATABASE_URL": empty_sqlite}, "--check")
    assert result.returncode == 7
    assert "habitctl db upgrade" in result.stderr
    if pg_cluster is not None:
        name = f"empty_{os.getpid()}_{time.monotonic_ns()}"
        pg_cluster.execute(f"CREATE DATABASE {name}")
        result = run_daemon({"HABITCTL_DATABASE_URL": pg_cluster.url(name)}, "--check")
        assert result.returncode == 7
        assert "habitctl db upgrade" in result.stderr


def test_once_runs_one_tick_and_exits_0(
    database_url: str, engine: Engine, fake_bot: FakeBotAPI
) -> None:
    ids = seed_due(engine, users=3)
    result = run_daemon(daemon_env(database_url, fake_bot), "--once")
    assert result.returncode == 0, result.stderr
    assert sorted(h for h, _ in deliveries(engine)) == sorted(ids), result.stderr
    assert len(fake_bot.sent_messages()) == 3
    assert BOT_TOKEN not in result.stderr + result.stdout


def test_a_stop_while_deliveries_are_being_written_waits_for_that_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopping cancels the recorder: a group it was writing must still be written (else
    those messages were sent and go again), and nothing may be written twice."""
    written: list[list[object]] = []

    def slow_write(group: list[object]) -> bool:
        time.sleep(0.3)
        written.append(group)
        return True

    recorder = Recorder(make_sessionmaker(make_engine("sqlite://")), "stop-test")
    monkeypatch.setattr(recorder, "write", slow_write)

    async def stop_mid_write() -> None:
        task = asyncio.ensure_future(recorder.run())
        recorder.add("first")  # type: ignore[arg-type]
        await asyncio.sleep(0.1)  # the write of ["first"] is under way
        recorder.add("second")  # type: ignore[arg-type]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert written == [["first"]]  # done by the time the recorder has stopped
        assert recorder.pending == ["second"]  # left for `flush`, which shut-down calls

    asyncio.run(stop_mid_write())
    assert written == [["first"]]


def test_once_with_telegram_unreachable_exits_1_without_a_traceback(database_url: str) -> None:
    env = {
        "HABITCTL_DATABASE_URL": database_url,
        "HABITCTL_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "HABITCTL_TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{free_port()}/bot",
    }
    result = run_daemon(env, "--once")
    assert result.returncode == 1
    assert "Telegram is unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert BOT_TOKEN not in result.stderr


def test_a_second_daemon_on_the_same_sqlite_file_exits_with_a_clear_message(
    tmp_path: Path, sqlite_template: Path, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    path = tmp_path / "habitctl.db"
    shutil.copyfile(sqlite_template, path)
    env = daemon_env(f"sqlite:///{path}", fake_bot)
    first = daemons(env)
    first.wait_for_log("daemon ready")
    second = run_daemon(env)
    assert second.returncode == 6
    assert "another habitctl-daemon already serves this SQLite database" in second.stderr
    assert first.proc.poll() is None  # the first one carries on
    assert first.stop() == 0


# ------------------------------------------------------------------ logs


def test_json_log_format_is_one_object_per_line(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    seed_due(pg_engine, users=2)
    fake_bot.add_rules({"method": "sendMessage", "action": "500", "times": 1})
    daemon = daemons(daemon_env(pg_url, fake_bot), "--log-format", "json")
    wait_until(lambda: len(deliveries(pg_engine)) == 2, 20, "two deliveries")
    assert daemon.stop() == 0

    lines = [line for line in daemon.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert all(isinstance(entry, dict) for entry in entries)
    assert all({"ts", "level", "message"} <= set(entry) for entry in entries)
    messages = [entry["message"] for entry in entries]
    assert "daemon ready" in messages
    assert messages.count("reminder sent") == 2
    retry = next(entry for entry in entries if entry["message"] == "send failed, retrying")
    assert retry["level"] == "warning"
    assert "500" in retry["reason"] or "Internal" in retry["reason"]


def test_the_bot_token_never_appears_in_any_log(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start, tmp_path: Path
) -> None:
    seed_due(pg_engine, users=3)
    fake_bot.add_rules(
        [
            {"method": "sendMessage", "action": "500", "times": 1},
            {"method": "sendMessage", "action": "429", "retry_after": 1, "times": 1},
            {"method": "sendMessage", "action": "403", "times": 1},
        ]
    )
    fake_bot.set_down(True)
    daemon = daemons(daemon_env(pg_url, fake_bot), "--log-format", "json")
    daemon.wait_for_log("Telegram unavailable, retrying")
    fake_bot.set_down(False)
    wait_until(lambda: len(deliveries(pg_engine)) == 2, 20, "two deliveries, one unreachable")
    assert daemon.stop() == 0
    logs = daemon.log()

    # A token Telegram refuses (404/401 → InvalidToken): the daemon exits 3 and says why.
    refused = run_daemon(
        daemon_env(pg_url, fake_bot, HABITCTL_TELEGRAM_API_BASE_URL=fake_bot.base_url + "/x"),
        timeout=30,
    )
    assert refused.returncode == 3
    assert "refused the bot token" in refused.stderr
    logs += refused.stdout + refused.stderr
    check = run_daemon(daemon_env(pg_url, fake_bot), "--check")
    logs += check.stdout + check.stderr

    assert "telegram asked to slow down" in logs
    assert "chat unreachable" in logs
    assert BOT_TOKEN not in logs
    assert SECRET not in logs


# ------------------------------------------------------------------ sd_notify


def test_sd_notify_ready_watchdog_and_stopping(
    tmp_path: Path, sqlite_template: Path, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    database = tmp_path / "habitctl.db"  # the backend does not matter here
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    # AF_UNIX paths are limited to ~108 bytes: pytest's tmp_path may be longer.
    directory = tempfile.mkdtemp(prefix="habitctl-notify-")
    address = os.path.join(directory, "notify.sock")
    received: list[tuple[float, str]] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(0.2)
        done = threading.Event()

        def listen() -> None:
            while not done.is_set():
                try:
                    received.append((time.monotonic(), sock.recv(4096).decode()))
                except TimeoutError:
                    continue

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        try:
            # A long poll interval: the watchdog pings must not wait for ticks.
            env = daemon_env(
                database_url,
                fake_bot,
                NOTIFY_SOCKET=address,
                WATCHDOG_USEC="1000000",
                HABITCTL_DAEMON_POLL_INTERVAL_SECONDS="30",
            )
            daemon = daemons(env)
            wait_until(lambda: any(m == "READY=1" for _, m in received), 20, "READY=1")
            ready_at = next(t for t, m in received if m == "READY=1")
            time.sleep(2.0)
            assert daemon.stop() == 0
            wait_until(lambda: any(m == "STOPPING=1" for _, m in received), 5, "STOPPING=1")
        finally:
            done.set()
            listener.join(5)
            shutil.rmtree(directory, ignore_errors=True)

    states = [m for _, m in received]
    assert states[0] == "READY=1"
    assert states[-1] == "STOPPING=1"
    pings = [t for t, m in received if m == "WATCHDOG=1" and t > ready_at]
    assert len(pings) >= 3  # every half of WATCHDOG_USEC, i.e. ~4 in the 2 s
    gaps = [b - a for a, b in zip([ready_at, *pings], pings, strict=False)]
    assert max(gaps) < 0.9


# ------------------------------------------------------------------ 11. the systemd unit


def test_systemd_unit_runs_unprivileged_with_notify_watchdog_and_hardening() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "60"
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("", "root", "0")
    assert service["User"] == "habitctl"
    assert service["EnvironmentFile"] == "/etc/habitctl/env"
    assert service["ExecStart"] == "/opt/habitctl/bin/habitctl-daemon"
    assert service["TimeoutStopSec"] == "15"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "true"
    assert service["PrivateTmp"] == "true"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this environment's script.
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/opt/habitctl/bin/habitctl-daemon", str(SCRIPT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "habitctl-daemon.service" not in result.stderr, result.stderr
