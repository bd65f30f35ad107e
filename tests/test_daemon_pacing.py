"""The send rate across replicas, and stopping while Telegram hangs (SPEC §7 "Telegram",
"Operations"): real daemon processes, the fake Bot API counting where messages arrive."""

from __future__ import annotations

import signal
import time

from sqlalchemy import Engine, select

from habitctl.storage.models import Habit
from tests.daemon_harness import (
    Start,
    daemon_env,
    deliveries,
    most_in_window,
    seed_due,
    wait_until,
)
from tests.fakebot import FakeBotAPI

RATE = 25


def test_three_replicas_together_never_exceed_the_rate_and_keep_close_to_it(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    env = daemon_env(pg_url, fake_bot, HABITCTL_DAEMON_SEND_RATE_PER_SECOND=str(RATE))
    replicas = [daemons(env) for _ in range(3)]
    for replica in replicas:
        replica.wait_for_log("daemon ready", timeout=60)
    seed_due(pg_engine, users=300)
    wait_until(lambda: len(deliveries(pg_engine)) == 300, 90, "300 reminders delivered")
    for replica in replicas:
        assert replica.stop() == 0

    stamps = sorted(c["ts"] for c in fake_bot.sent_messages())
    assert len(stamps) == 300
    busiest = most_in_window(stamps)
    busy = [t for t in stamps if stamps[0] + 1 <= t <= stamps[-1] - 1]
    pace = (len(busy) - 1) / (busy[-1] - busy[0])
    assert busiest <= RATE, (busiest, pace)
    # Within 5 % of the rate while there was work (the first and last second aside: the
    # replicas start and run out of work at different moments).
    assert pace >= 0.95 * RATE, pace
    assert sum("reminder sent" in replica.log() for replica in replicas) >= 2


def test_the_rate_holds_where_messages_arrive_however_late_they_arrive(
    database_url: str, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    """Messages held up on their way (0 to 300 ms each) must still never put more than the
    rate into any second of their arrival: spacing departures alone lets a late message
    bunch up with the ones after it."""
    fake_bot.set_transit(0.3)
    daemon = daemons(
        daemon_env(database_url, fake_bot, HABITCTL_DAEMON_SEND_RATE_PER_SECOND=str(RATE))
    )
    daemon.wait_for_log("daemon ready", timeout=60)
    seed_due(engine, users=120)
    wait_until(lambda: len(deliveries(engine)) == 120, 60, "120 reminders delivered")
    assert daemon.stop() == 0

    stamps = [c["ts"] for c in fake_bot.sent_messages()]
    assert len(stamps) == 120
    assert most_in_window(stamps) <= RATE


def test_stop_with_every_telegram_call_hanging_exits_0_within_10_s(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    daemon = daemons(daemon_env(pg_url, fake_bot, HABITCTL_DAEMON_SEND_RATE_PER_SECOND="5"))
    daemon.wait_for_log("daemon ready", timeout=60)
    fake_bot.add_rules({"method": "*", "action": "hang", "delay": 60})
    ids = seed_due(pg_engine, users=10)  # due only now: not one send may be answered
    wait_until(lambda: fake_bot.calls("sendMessage"), 30, "a send hanging")
    asked = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    code = daemon.proc.wait(15)
    took = time.monotonic() - asked
    assert code == 0, daemon.log()
    assert took < 10, took

    assert deliveries(pg_engine) == []  # no answer came: nothing may be recorded as sent
    with pg_engine.connect() as conn:
        leases = conn.execute(select(Habit.lease_owner).where(Habit.id.in_(ids))).scalars()
        assert set(leases) == {None}  # given back: due again at once for the next start
