"""The daemon through faults (issue 5, "Done when" 1, 2, 4–8): real `habitctl-daemon`
processes, the real python-telegram-bot, the fake Bot API over HTTP, real databases."""

from __future__ import annotations

import itertools
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select, update

from daemon.worker import MAX_ATTEMPTS
from habitctl.storage.engine import make_engine
from habitctl.storage.models import Habit, ReminderDelivery, User, UserContact
from tests.cli import Cli
from tests.daemon_harness import (
    DaemonProcess,
    Start,
    daemon_env,
    deliveries,
    habit_chats,
    most_in_window,
    seed_due,
    set_schedule,
    wait_until,
)
from tests.fakebot import FakeBotAPI
from tests.pg import PostgresCluster


def next_reminders(engine: Engine) -> dict[int, datetime]:
    with engine.connect() as conn:
        rows = conn.execute(select(Habit.id, Habit.next_reminder_at)).all()
    return {row[0]: row[1] for row in rows}


def sends_by_message(fake: FakeBotAPI) -> Counter[tuple[int, str]]:
    """Accepted sendMessage calls counted by (chat, text): one per habit and occurrence."""
    return Counter((c["params"]["chat_id"], c["params"]["text"]) for c in fake.sent_messages())


def assert_alive(daemon: DaemonProcess) -> None:
    assert daemon.proc.poll() is None, f"daemon exited:\n{daemon.log()}"


# ------------------------------------------------------------------ 1. replicas


def test_three_replicas_send_each_occurrence_exactly_once(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    # No bot rate: the replicas race as hard as they can (and the run takes seconds).
    env = daemon_env(
        pg_url,
        fake_bot,
        HABITCTL_DAEMON_BATCH_SIZE="50",
        HABITCTL_DAEMON_SEND_RATE_PER_SECOND="0",
    )
    replicas = [daemons(env) for _ in range(3)]
    for replica in replicas:
        replica.wait_for_log("daemon ready")
    ids = seed_due(pg_engine, users=1000)

    wait_until(lambda: len(deliveries(pg_engine)) >= 1000, 60, "1,000 deliveries")
    time.sleep(1.0)  # a few more ticks of every replica: a late duplicate would show
    for replica in replicas:
        assert replica.stop() == 0

    per_message = sends_by_message(fake_bot)
    chats = habit_chats(pg_engine)
    assert set(per_message) == {(chats[h], "⏰ " + _text_tail(pg_engine, h)) for h in ids}
    assert max(per_message.values()) == 1
    rows = deliveries(pg_engine)
    assert len(rows) == 1000
    assert {habit for habit, _ in rows} == set(ids)
    # The race was real: more than one replica sent.
    assert sum("reminder sent" in replica.log() for replica in replicas) >= 2


def _text_tail(engine: Engine, habit_id: int) -> str:
    with engine.connect() as conn:
        at = conn.scalar(select(Habit.time).where(Habit.id == habit_id))
    assert at is not None
    return f"{at:%H:%M} — I will stretch 0 in home (≤ 60 s). Then: tea."


# ------------------------------------------------------------------ 2. SIGKILL


def test_sigkill_mid_batch_loses_nothing_and_repeats_only_what_was_in_flight(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    ids = seed_due(pg_engine, users=30)
    # Answers take 1 s, so after the first batch commits the second is in flight a while.
    fake_bot.add_rules({"method": "sendMessage", "action": "slow", "delay": 1.0})
    env = daemon_env(pg_url, fake_bot, HABITCTL_DAEMON_BATCH_SIZE="10")
    first = daemons(env)
    wait_until(
        lambda: len(deliveries(pg_engine)) >= 10 and len(fake_bot.sent_messages()) > 10,
        30,
        "a committed batch and the next one in flight",
    )
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    committed = len(deliveries(pg_engine))
    in_flight = len(fake_bot.sent_messages()) - committed
    assert committed < 30
    assert in_flight >= 1

    fake_bot.clear_rules()
    second = daemons(env)
    wait_until(lambda: len(deliveries(pg_engine)) == 30, 30, "every habit delivered")
    time.sleep(0.5)
    assert second.stop() == 0

    per_message = sends_by_message(fake_bot)
    chats = habit_chats(pg_engine)
    assert {chat for chat, _ in per_message} == {chats[h] for h in ids}  # nothing lost
    duplicates = sum(per_message.values()) - len(ids)
    assert 0 <= duplicates <= in_flight
    assert {habit for habit, _ in deliveries(pg_engine)} == set(ids)


# ------------------------------------------------------------------ 4. PostgreSQL outage


def test_postgres_outage_is_survived_and_caught_up_per_grace(
    own_cluster: PostgresCluster, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    url = own_cluster.url("habitctl")
    engine = make_engine(url)
    try:
        before = seed_due(engine, users=3, overdue=timedelta(seconds=5))  # sent before it
        during = seed_due(engine, users=3)  # due in the outage: sent late after it
        stale = seed_due(engine, users=1)  # inside the grace now, beyond it after the outage
        with engine.begin() as conn:
            now = conn.scalar(select(func.now()))
            stale_at = now - timedelta(seconds=40)
            conn.execute(update(Habit).where(Habit.id.in_(stale)).values(next_reminder_at=stale_at))
            conn.execute(
                update(Habit)
                .where(Habit.id.in_(during))
                .values(next_reminder_at=now + timedelta(seconds=12))
            )
        # Hold the stale habit's row lock (SKIP LOCKED passes it by) until the outage drops
        # this connection; by then it is older than the one-minute grace.
        locker = engine.connect()
        locker.execute(select(Habit.id).where(Habit.id.in_(stale)).with_for_update())
        daemon = daemons(daemon_env(url, fake_bot, HABITCTL_DAEMON_CATCH_UP_GRACE_MINUTES="1"))
        wait_until(lambda: len(deliveries(engine)) == 3, 20, "the first reminders")

        own_cluster.stop()
        stopped = time.monotonic()
        locker.invalidate()
        daemon.wait_for_log("database unavailable", timeout=15)
        while time.monotonic() - stopped < 30:
            assert_alive(daemon)
            time.sleep(0.5)
        assert not [c for c in fake_bot.sent_messages() if c["wall"] > time.time() - 25]
        own_cluster.start()
        own_cluster.wait_ready()

        wait_until(lambda: len(deliveries(engine)) == 6, 45, "the reminders due in the outage")
        wait_until(lambda: deliveries(engine, "skipped"), 10, "the stale one skipped")
        time.sleep(0.5)
        assert_alive(daemon)
        assert daemon.stop() == 0
        assert "database is back" in daemon.log()

        sent = {habit for habit, _ in deliveries(engine)}
        assert sent == set(before) | set(during)
        assert [habit for habit, _ in deliveries(engine, "skipped")] == stale
        chats = habit_chats(engine)
        per_message = sends_by_message(fake_bot)
        assert {chat for chat, _ in per_message} == {chats[h] for h in before + during}
        assert max(per_message.values()) == 1  # one late message each, no burst
        with engine.connect() as conn:
            at = conn.scalar(select(Habit.time).where(Habit.id == stale[0]))
        tomorrow = stale_at.date() + timedelta(days=1)
        assert next_reminders(engine)[stale[0]] == datetime.combine(tomorrow, at, tzinfo=UTC)
    finally:
        engine.dispose()


# ------------------------------------------------------------------ 5. 429 and pacing


def test_429_is_honoured_and_pacing_holds_across_the_bot_and_per_chat(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    busy = seed_due(pg_engine, users=4, habits_per_user=3)  # several due at once per chat
    single = seed_due(pg_engine, users=12)
    chats = habit_chats(pg_engine)
    target = chats[busy[0]]
    fake_bot.set_rate_limit(per_second=10, per_chat_per_second=1)
    fake_bot.add_rules(
        {"method": "sendMessage", "chat_id": target, "action": "429", "retry_after": 2, "times": 3}
    )
    daemon = daemons(daemon_env(pg_url, fake_bot, HABITCTL_DAEMON_SEND_RATE_PER_SECOND="10"))
    total = len(busy) + len(single)
    wait_until(lambda: len(deliveries(pg_engine)) == total, 40, "every reminder delivered")
    time.sleep(0.5)
    assert daemon.stop() == 0

    calls = fake_bot.calls("sendMessage")
    refused = [c for c in calls if c["status"] == 429]
    # Exactly the three scripted 429s: the fake's own limiter never had to refuse one.
    timeline = [
        (round(c["ts"] - calls[0]["ts"], 3), c["params"]["chat_id"], c["status"]) for c in calls
    ]
    assert [c["params"]["chat_id"] for c in refused] == [target] * 3, timeline
    to_target = [c for c in calls if c["params"]["chat_id"] == target]
    for refusal in refused:
        later = [c["ts"] for c in to_target if c["ts"] > refusal["ts"]]
        assert later, "the refused message was never retried"
        assert min(later) - refusal["ts"] >= 2.0, "retry_after=2 not honoured"
    assert most_in_window([c["ts"] for c in calls]) <= 10
    for chat in set(chats.values()):
        stamps = [c["ts"] for c in calls if c["params"]["chat_id"] == chat]
        assert most_in_window(stamps) <= 1, f"more than one message a second to chat {chat}"
    per_message = sends_by_message(fake_bot)
    assert len(per_message) == total
    assert max(per_message.values()) == 1
    assert "telegram asked to slow down" in daemon.log()


# ------------------------------------------------------------------ 6. 403


def test_403_marks_that_user_unreachable_and_spares_everyone_else(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    cli.signup()
    first = cli.add("I will walk at 07:30 in the park", "--reward", "tea")
    second = cli.add("I will read at 21:00 in bed", "--reward", "tea")
    blocked_chat = 4_030_403
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            update(UserContact)
            .where(
                UserContact.user_id
                == select(User.id).where(User.username == "alice").scalar_subquery()
            )
            .values(telegram_chat_id=blocked_chat)
        )
        conn.execute(
            update(Habit)
            .where(Habit.id == first["id"])
            .values(next_reminder_at=now - timedelta(seconds=5))
        )
    others = seed_due(engine, users=20)
    fake_bot.add_rules({"method": "sendMessage", "chat_id": blocked_chat, "action": "403"})
    daemon = daemons(daemon_env(cli.database_url, fake_bot))

    wait_until(lambda: len(deliveries(engine)) == 20, 20, "everyone else delivered")
    state = wait_until(
        lambda: (s := cli.ok("telegram", "status", "--json").json())["reachable"] is False and s,
        10,
        "alice marked unreachable",
    )
    assert state["linked"] is True
    assert "403" in state["unreachable_reason"]
    assert "unreachable" in cli.ok("telegram", "status").stdout
    later = datetime.now(UTC)
    with engine.begin() as conn:  # due on a later tick: must not be tried
        conn.execute(update(Habit).where(Habit.id == second["id"]).values(next_reminder_at=later))
    wait_until(
        lambda: next_reminders(engine)[second["id"]] > later + timedelta(hours=1),
        10,
        "alice's later habit advanced without a send",
    )
    time.sleep(1.0)  # several more ticks
    assert daemon.stop() == 0

    calls = fake_bot.calls("sendMessage")
    assert len([c for c in calls if c["params"]["chat_id"] == blocked_chat]) == 1
    delivered = [c for c in fake_bot.sent_messages() if c["params"]["chat_id"] != blocked_chat]
    assert len(delivered) == 20
    # Nobody waited on the blocked chat: everyone else's went out within seconds of the
    # first (measured from the first send: a start-up on a loaded host takes seconds).
    first_send = min(c["wall"] for c in calls)
    timeline = [(round(c["wall"] - first_send, 2), c["params"]["chat_id"]) for c in calls]
    assert max(c["wall"] for c in delivered) - first_send < 5, timeline
    with engine.connect() as conn:
        with_delivery = set(conn.scalars(select(ReminderDelivery.habit_id)).all())
    assert with_delivery == set(others)  # no delivery row pretends alice got hers
    assert next_reminders(engine)[first["id"]] > now  # alice's habits keep advancing


# ------------------------------------------------------------------ 7. 5xx, timeouts, down


def retry_delays(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"retry_in_s=([0-9.]+)", log)]


def test_500s_are_retried_with_backoff_and_delivered(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    [habit] = seed_due(pg_engine, users=1)
    fake_bot.add_rules({"method": "sendMessage", "action": "500", "times": 4})
    daemon = daemons(daemon_env(pg_url, fake_bot))
    wait_until(lambda: deliveries(pg_engine), 30, "delivered after the 500s")
    time.sleep(0.5)
    assert_alive(daemon)
    assert daemon.stop() == 0

    calls = fake_bot.calls("sendMessage")
    assert [c["status"] for c in calls] == [500, 500, 500, 500, 200]
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.4  # retried within the tick after a pause …
    assert gaps[2] >= 1.9  # … then the whole loop backed off before the next tick
    assert "telegram failing, backing off" in daemon.log()
    assert all(0 < d <= 60 for d in retry_delays(daemon.log()))
    assert [h for h, _ in deliveries(pg_engine)] == [habit]


def test_answer_slower_than_the_timeout_is_retried_within_the_duplicate_window(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    [habit] = seed_due(pg_engine, users=1)
    chat = habit_chats(pg_engine)[habit]
    # The fake accepts the message on arrival and answers after the daemon's 5 s timeout.
    fake_bot.add_rules({"method": "sendMessage", "action": "hang", "delay": 7, "times": 1})
    daemon = daemons(daemon_env(pg_url, fake_bot))
    wait_until(lambda: deliveries(pg_engine), 30, "delivered after the timeout")
    time.sleep(0.5)
    assert_alive(daemon)
    assert daemon.stop() == 0

    assert "timed out" in daemon.log()
    to_chat = [c for c in fake_bot.sent_messages() if c["params"]["chat_id"] == chat]
    assert 1 <= len(to_chat) <= 2  # the timed-out one may have arrived: one repeat at most
    assert [h for h, _ in deliveries(pg_engine)] == [habit]


def test_bot_api_down_backs_off_and_delivers_once_it_recovers(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    fake_bot.set_down(True)
    daemon = daemons(daemon_env(pg_url, fake_bot))
    daemon.wait_for_log("Telegram unavailable, retrying")  # start-up waits for Telegram
    fake_bot.set_down(False)
    daemon.wait_for_log("daemon ready")
    ids = seed_due(pg_engine, users=3)
    fake_bot.set_down(True)
    down_at = time.time()
    daemon.wait_for_log("telegram failing, backing off", timeout=20)
    time.sleep(max(0.0, 6 - (time.time() - down_at)))
    assert_alive(daemon)
    assert not deliveries(pg_engine)
    # Bounded backoff: at a 0.2 s poll interval 6 s of outage would be a tick after every
    # failed one, each trying every due message MAX_ATTEMPTS times (a retry 0.5 s, then 1 s,
    # after each failure: ~1.5 s a tick, four ticks, 36 sends). Backing off 2 s, then 4 s,
    # the daemon gets through two ticks at most in those 6 s: 3 messages × 3 attempts each.
    knocks = [c for c in fake_bot.calls() if c["wall"] >= down_at]
    assert len([c for c in knocks if c["method"] == "getUpdates"]) <= 5, knocks
    sends = [round(c["wall"] - down_at, 2) for c in knocks if c["method"] == "sendMessage"]
    assert len(sends) <= 2 * 3 * MAX_ATTEMPTS, sends
    fake_bot.set_down(False)
    wait_until(lambda: len(deliveries(pg_engine)) == 3, 30, "delivered after recovery")
    assert daemon.stop() == 0

    assert all(0 < d <= 60 for d in retry_delays(daemon.log()))
    chats = habit_chats(pg_engine)
    assert {chat for chat, _ in sends_by_message(fake_bot)} == {chats[h] for h in ids}


# ------------------------------------------------------------------ 8. downtime


def test_downtime_within_grace_sends_one_late_reminder_per_habit(
    database_url: str, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    ids = seed_due(engine, users=4, habits_per_user=2, overdue=timedelta(minutes=10))
    due = next_reminders(engine)
    daemon = daemons(
        daemon_env(database_url, fake_bot, HABITCTL_DAEMON_CATCH_UP_GRACE_MINUTES="30")
    )
    wait_until(lambda: len(deliveries(engine)) == len(ids), 20, "the late reminders")
    time.sleep(1.0)  # more ticks: nothing else goes out
    assert daemon.stop() == 0

    per_message = sends_by_message(fake_bot)
    assert sum(per_message.values()) == len(ids) == len(per_message)
    assert sorted(deliveries(engine)) == sorted((h, due[h]) for h in ids)
    assert not deliveries(engine, "skipped")
    after = next_reminders(engine)
    # seed_due's habit time is whole minutes; the next one is tomorrow at that time.
    for habit in ids:
        assert after[habit] == due[habit].replace(second=0) + timedelta(days=1)


def test_downtime_of_days_sends_nothing_late_and_keeps_the_schedule(
    database_url: str, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    yesterday = now - timedelta(hours=22)  # today's occurrence is still 2 h ahead
    three_days = now - timedelta(days=2, hours=22)
    kolkata = "Asia/Kolkata"  # +05:30: the habit's local time is not its UTC time
    recent = seed_due(engine, users=3, timezone=kolkata)
    old = seed_due(engine, users=1, timezone=kolkata)
    local = yesterday.astimezone(ZoneInfo(kolkata)).time()
    set_schedule(engine, recent, local, yesterday)
    set_schedule(engine, old, local, three_days)
    daemon = daemons(daemon_env(database_url, fake_bot))
    wait_until(lambda: len(deliveries(engine, "skipped")) == 3 + 1, 20, "the skips recorded")
    time.sleep(1.0)
    assert daemon.stop() == 0

    assert fake_bot.sent_messages() == []
    assert deliveries(engine) == []
    skipped = deliveries(engine, "skipped")
    # One "skipped" record per catch-up, at the occurrence that was owed: the habit jumps
    # straight to the next one to come instead of stepping through every day missed.
    assert sorted(skipped) == sorted([(h, yesterday) for h in recent] + [(old[0], three_days)])
    after = next_reminders(engine)
    for habit in recent + old:
        assert after[habit] == now + timedelta(hours=2)  # the next one, on schedule
    assert "reminder skipped" in daemon.log()
