"""Chaos (issue 12, "Done when"): three real replicas sending a few hundred due reminders to
the fake Bot API at 25/s, `kill -9` of a random replica at random moments (restarted), one
PostgreSQL restart mid-send, and phases of 429, 500 and hanging calls. At the end nothing is
lost, and the duplicates stay within what the documented window allows."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from sqlalchemy import select

from habitctl.storage.engine import make_engine
from habitctl.storage.models import ReminderDelivery
from tests.daemon_harness import DaemonProcess, Start, daemon_env, habit_chats, seed_due
from tests.fakebot import FakeBotAPI
from tests.pg import PostgresCluster

HABITS = 500
KILLS = 10
RATE = 25


@pytest.mark.slow
def test_kills_a_database_restart_and_telegram_faults_lose_nothing_and_repeat_little(
    own_cluster: PostgresCluster, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    chaos = random.Random(12)
    url = own_cluster.url("habitctl")
    engine = make_engine(url)
    env = daemon_env(
        url,
        fake_bot,
        HABITCTL_DAEMON_SEND_RATE_PER_SECOND=str(RATE),
        HABITCTL_DAEMON_BATCH_SIZE="50",
    )
    try:
        ids = seed_due(engine, users=HABITS)
        chats = habit_chats(engine)
        replicas: list[DaemonProcess] = [daemons(env) for _ in range(3)]
        started = time.monotonic()
        phases = [
            (6.0, {"method": "sendMessage", "action": "429", "retry_after": 1, "times": 4}),
            (12.0, {"method": "sendMessage", "action": "500", "times": 15}),
            (18.0, {"method": "sendMessage", "action": "hang", "delay": 7, "times": 3}),
        ]
        kills = db_restarts = 0
        next_kill = started + 4.0

        def recorded() -> int:
            with engine.connect() as conn:
                rows = conn.execute(select(ReminderDelivery.habit_id)).scalars().all()
            return len(set(rows))

        while time.monotonic() - started < 100:
            now = time.monotonic()
            elapsed = now - started
            while phases and elapsed >= phases[0][0]:
                fake_bot.add_rules(phases.pop(0)[1])
            if db_restarts == 0 and elapsed >= 9.0:
                own_cluster.stop(mode="immediate")  # mid-send: connections drop at once
                time.sleep(1.0)
                own_cluster.start()
                own_cluster.wait_ready()
                db_restarts += 1
                continue
            # Kill only replicas that are sending: a kill during start-up proves nothing.
            sending = [i for i, r in enumerate(replicas) if "reminder sent" in r.log()]
            if kills < KILLS and now >= next_kill and sending:
                victim = chaos.choice(sending)
                replicas[victim].kill()  # SIGKILL
                replicas[victim] = daemons(env)
                kills += 1
                next_kill = now + chaos.uniform(1.0, 3.0)
            if kills >= KILLS and not phases:
                try:
                    if recorded() == HABITS:
                        break
                except Exception:  # the database is restarting
                    pass
            time.sleep(0.1)
        time.sleep(1.0)  # a last round of ticks: a late duplicate would show
        for replica in replicas:
            replica.kill()

        with engine.connect() as conn:
            outcomes = conn.execute(
                select(ReminderDelivery.habit_id, ReminderDelivery.status)
            ).all()
    finally:
        engine.dispose()

    sends = fake_bot.calls("sendMessage")
    delivered = Counter(c["params"]["chat_id"] for c in sends if c["status"] == 200)
    timed_out = sum(1 for c in sends if c["late"])
    lost = [h for h in ids if h not in {habit for habit, _ in outcomes}]
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    report = (
        f"kills={kills} db_restarts={db_restarts} timed_out={timed_out} "
        f"duplicates={duplicates} lost={len(lost)} sent={sum(delivered.values())}"
    )
    print(report)
    assert kills >= KILLS, report
    assert db_restarts == 1, report
    assert lost == [], report
    # Every habit recorded "sent" reached its chat at least once.
    sent_habits = {habit for habit, status in outcomes if status == "sent"}
    assert all(delivered[chats[h]] >= 1 for h in sent_habits), report
    assert duplicates <= 3 * (kills + db_restarts) + timed_out, report
