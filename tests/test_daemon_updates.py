"""Telegram updates beside the sending (SPEC §7 "Linking and buttons", "Failure isolation"):
long polling in its own task, odd Bot API answers survived, handled updates confirmed."""

from __future__ import annotations

import signal
import time
from collections import Counter

from sqlalchemy import Engine

from tests.daemon_harness import Start, daemon_env, deliveries, habit_chats, seed_due, wait_until
from tests.fakebot import FakeBotAPI
from tests.test_daemon_buttons import button, callback


def answered(fake: FakeBotAPI) -> list[dict[str, object]]:
    return fake.calls("answerCallbackQuery")


def stray_press(chat_id: int) -> dict[str, object]:
    """A button press the bot did not issue: answered "not one of habitctl's"."""
    return {"type": "callback", "chat_id": chat_id, "data": "not-ours"}


def test_odd_answers_and_updates_stop_nothing_and_are_not_retried(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    ids = seed_due(pg_engine, users=20)
    chats = habit_chats(pg_engine)
    odd_chat, pressing = chats[ids[0]], ids[1]
    # sendMessage answered with `date` in milliseconds; editMessageText answered `null`.
    fake_bot.add_rules(
        [
            {"method": "sendMessage", "chat_id": odd_chat, "action": "ms_date", "times": 1},
            {"method": "editMessageText", "action": "null_result"},
        ]
    )
    fake_bot.push_updates(
        [
            {  # an update without `date`
                "message": {
                    "message_id": 7,
                    "chat": {"id": 77, "type": "private", "first_name": "X"},
                    "from": {"id": 77, "is_bot": False, "first_name": "X"},
                    "text": "/start nocode",
                }
            },
            {"message": "not an object"},  # an update that does not parse at all
        ]
    )
    daemon = daemons(daemon_env(pg_url, fake_bot), "--log-format", "json")
    wait_until(lambda: len(deliveries(pg_engine)) == 20, 60, "every reminder delivered")
    [reminder] = [m for m in fake_bot.sent_messages() if m["params"]["chat_id"] == chats[pressing]]
    # The Done button of the reminder that was sent, as the person would press it.
    fake_bot.push_updates(
        [callback(reminder, button(reminder, "Done")["callback_data"], chat=chats[pressing])]
    )
    wait_until(lambda: fake_bot.calls("editMessageText"), 10, "the pressed message edited")
    wait_until(lambda: not fake_bot.pending_updates(), 10, "every update confirmed")
    time.sleep(1.0)
    assert daemon.proc.poll() is None, daemon.log()
    assert daemon.stop() == 0

    per_chat = Counter(c["params"]["chat_id"] for c in fake_bot.sent_messages())
    reminded = {chat: n for chat, n in per_chat.items() if chat != 77}
    assert reminded == dict.fromkeys(chats.values(), 1)  # the odd answer was not resent
    assert [c["params"]["text"] for c in answered(fake_bot)] == ["Recorded ✅"]
    assert "update skipped: it cannot be handled" in daemon.log()
    polls = fake_bot.calls("getUpdates")
    assert len(polls) < 20, "the odd updates were fetched again and again"


def test_a_restart_answers_no_update_twice(
    database_url: str, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    env = daemon_env(database_url, fake_bot)
    first = daemons(env)
    first.wait_for_log("daemon ready", timeout=40)
    fake_bot.push_updates([stray_press(501), stray_press(502)])
    wait_until(lambda: len(answered(fake_bot)) == 2, 10, "two presses answered")
    assert first.stop() == 0
    assert fake_bot.pending_updates() == []  # confirmed before exit

    fake_bot.push_updates(stray_press(503))
    second = daemons(env)
    wait_until(lambda: len(answered(fake_bot)) == 3, 40, "the new press answered")
    # kill -9: nothing confirmed at exit, but the offset is kept in the database.
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait(10)
    third = daemons(env)
    third.wait_for_log("daemon ready", timeout=40)
    fake_bot.push_updates(stray_press(504))
    wait_until(lambda: len(answered(fake_bot)) == 4, 40, "the last press answered")
    time.sleep(1.0)
    assert third.stop() == 0

    ids = [c["params"]["callback_query_id"] for c in answered(fake_bot)]
    assert len(ids) == len(set(ids)) == 4, ids


def test_a_press_is_answered_within_2_s_while_500_reminders_are_paced(
    pg_url: str, pg_engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    seed_due(pg_engine, users=500)
    daemon = daemons(daemon_env(pg_url, fake_bot, HABITCTL_DAEMON_SEND_RATE_PER_SECOND="25"))
    wait_until(lambda: len(fake_bot.sent_messages()) >= 50, 60, "the backlog under way")
    delays = []
    for chat in (601, 602, 603):
        pushed = time.monotonic()
        fake_bot.push_updates(stray_press(chat))
        wait_until(lambda chat=chat: len(answered(fake_bot)) >= chat - 600, 10, "the answer")
        delays.append(time.monotonic() - pushed)
        time.sleep(0.5)
    backlog = 500 - len(deliveries(pg_engine))
    assert daemon.stop() == 0
    assert backlog > 100, "the presses must come while reminders are still being paced"
    assert max(delays) < 2.0, delays
