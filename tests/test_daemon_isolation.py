"""Failure isolation (SPEC §7): one habit, user, update or answer the daemon cannot handle is
logged as one line, counted, set aside where its owner sees it, and stops nobody else."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from habitctl.storage.models import Habit, ReminderDelivery
from tests import bad_rows
from tests.cli import Cli
from tests.daemon_harness import (
    DaemonProcess,
    Start,
    daemon_env,
    deliveries,
    habit_chats,
    seed_due,
    wait_until,
)
from tests.fakebot import FakeBotAPI


def json_lines(daemon: DaemonProcess) -> list[dict[str, object]]:
    """Every line of the log as JSON: a line that is not (a raw traceback) fails the test."""
    return [json.loads(line) for line in daemon.log().splitlines() if line.strip()]


def sends_per_chat(fake: FakeBotAPI) -> Counter[int]:
    return Counter(c["params"]["chat_id"] for c in fake.sent_messages())


def owner_of(engine: Engine, habit_id: int) -> int:
    with engine.connect() as conn:
        owner = conn.scalar(select(Habit.user_id).where(Habit.id == habit_id))
    assert owner is not None
    return owner


def test_bad_rows_are_set_aside_and_everyone_else_gets_one_reminder(
    database_url: str, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    ids = seed_due(engine, users=24)
    bad_zone, minus_infinity, since_1900, no_time, *good = ids
    bad_rows.bad_timezone(engine, owner_of(engine, bad_zone))
    bad_rows.next_reminder_literal(engine, minus_infinity, "-infinity")
    with engine.connect() as conn:
        at = conn.scalar(select(Habit.time).where(Habit.id == since_1900))
    assert at is not None
    bad_rows.next_reminder_literal(engine, since_1900, f"1900-01-01 {at:%H:%M}:00+00")
    bad_rows.no_time_of_day(engine, no_time)
    chats = habit_chats(engine)

    daemon = daemons(daemon_env(database_url, fake_bot), "--log-format", "json")
    wait_until(lambda: len(deliveries(engine)) == len(good) + 1, 60, "the others delivered")
    time.sleep(1.5)  # several more ticks: nothing crashes, nothing is sent again
    assert daemon.proc.poll() is None, daemon.log()
    assert daemon.stop() == 0

    per_chat = sends_per_chat(fake_bot)
    assert {chats[h]: per_chat[chats[h]] for h in good} == {chats[h]: 1 for h in good}
    assert per_chat[chats[since_1900]] == 1  # caught up: today's, once, late
    for habit in (bad_zone, minus_infinity, no_time):
        assert per_chat[chats[habit]] == 0
    with engine.connect() as conn:
        reasons = dict(conn.execute(select(Habit.id, Habit.reminder_error)).all())
        skipped = conn.execute(
            select(ReminderDelivery.habit_id, ReminderDelivery.occurrence_at).where(
                ReminderDelivery.status == "skipped"
            )
        ).all()
        next_1900 = conn.scalar(select(Habit.next_reminder_at).where(Habit.id == since_1900))
    assert "Mars/Olympus_Mons" in str(reasons[bad_zone])
    assert "out of range" in str(reasons[minus_infinity])
    assert reasons[no_time]
    assert reasons[since_1900] is None
    assert all(reasons[h] is None for h in good)
    # Overdue since 1900: one "skipped" record for the catch-up, not one per day missed.
    assert [(h, o.year) for h, o in skipped] == [(since_1900, 1900)]
    assert next_1900 is not None
    assert next_1900 > datetime.now(UTC)

    lines = json_lines(daemon)
    set_aside = [line for line in lines if str(line["message"]).startswith("habit set aside")]
    assert sorted(line["habit"] for line in set_aside) == sorted(
        [bad_zone, minus_infinity, no_time]
    )


def test_the_owner_sees_why_reminders_were_set_aside(cli: Cli, engine: Engine) -> None:
    cli.signup()
    walk = cli.add("I will walk at 07:30 in the park", "--reward", "tea")
    with engine.begin() as conn:
        conn.execute(
            update(Habit)
            .where(Habit.id == walk["id"])
            .values(
                reminder_error="timezone 'Mars/\x1b[31mOlympus' is not an IANA time zone name",
                reminder_error_at=datetime.now(UTC) - timedelta(minutes=5),
            )
        )
    listed = cli.ok("list")
    assert f"Reminders for habit {walk['id']} are set aside: timezone" in listed.stderr
    assert "\x1b" not in listed.stderr + listed.stdout  # stored text never drives the terminal
    assert "\\x1b[31m" in listed.stderr
    status = cli.ok("telegram", "status", "--json").json()
    assert [item["habit_id"] for item in status["set_aside"]] == [walk["id"]]
    assert "Olympus" in status["set_aside"][0]["reason"]
    assert "set aside" in cli.ok("telegram", "status").stderr
