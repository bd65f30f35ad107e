"""Linking end to end: `telegram link` → `/start <code>` → status → a reminder → "Done ✅"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, update

from habitctl.storage.models import Habit
from tests.cli import Cli
from tests.daemon_harness import BOT_TOKEN, DaemonProcess, daemon_env, wait_until
from tests.fakebot import FakeBotAPI

CHAT = 777_001


def test_link_remind_and_press_done(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, tmp_path: Path
) -> None:
    cli.signup()
    tea = cli.add("I will make tea at 07:00 in the kitchen", "--pleasant")
    walk = cli.add("I will walk at 07:30 in the park", "--linked", str(tea["id"]))
    assert "not linked" in cli.ok("telegram", "status").stdout

    daemon = DaemonProcess(daemon_env(cli.database_url, fake_bot), tmp_path / "daemon.log")
    try:
        daemon.wait_for_log("daemon ready")
        link = cli.ok("telegram", "link", "--json").json()
        assert link["url"] == f"https://t.me/habitctl_test_bot?start={link['code']}"
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", link["code"])

        fake_bot.push_updates(
            [
                {
                    "type": "message",
                    "chat_id": CHAT,
                    "text": "/start wrong-code",
                    "username": "alice_tg",
                }
            ]
        )
        reply = wait_until(lambda: fake_bot.calls("sendMessage"))[0]["params"]
        assert "unknown, used or expired" in reply["text"]
        assert cli.ok("telegram", "status", "--json").json()["linked"] is False

        fake_bot.push_updates(
            [
                {
                    "type": "message",
                    "chat_id": CHAT,
                    "text": f"/start {link['code']}",
                    "username": "alice_tg",
                }
            ]
        )
        wait_until(lambda: cli.ok("telegram", "status", "--json").json()["linked"])
        state = cli.ok("telegram", "status", "--json").json()
        assert state == {
            **state,
            "linked": True,
            "reachable": True,
            "telegram_username": "alice_tg",
        }

        # Make the walk due now, as if 07:30 had just come.
        with engine.begin() as conn:
            conn.execute(
                update(Habit)
                .where(Habit.id == walk["id"])
                .values(next_reminder_at=datetime.now(UTC) - timedelta(seconds=5))
            )
        sent = wait_until(
            lambda: [
                c
                for c in fake_bot.sent_messages()
                if c["params"]["chat_id"] == CHAT and c["params"]["text"].startswith("⏰")
            ]
        )
        assert len(sent) == 1
        message = sent[0]["params"]
        assert message["text"] == ("⏰ 07:30 — I will walk in the park (≤ 120 s). Then: make tea.")
        button = message["reply_markup"]["inline_keyboard"][0][0]
        assert button["text"] == "Done ✅"

        fake_bot.push_updates(
            [
                {
                    "type": "callback",
                    "chat_id": CHAT,
                    "message_id": sent[0]["result"]["message_id"],
                    "data": button["callback_data"],
                }
            ]
        )
        edited = wait_until(lambda: fake_bot.calls("editMessageText"))
        assert "✅ Done" in edited[0]["params"]["text"]
        assert wait_until(lambda: fake_bot.calls("answerCallbackQuery"))
        again = cli.ok("done", str(walk["id"]), "--json").json()
        assert again["new"] is False  # the button already recorded today
        after = cli.ok("show", str(walk["id"]), "--json").json()
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
        assert after["next_reminder_at"] == f"{tomorrow}T07:30:00Z"
    finally:
        assert daemon.stop() == 0
    assert BOT_TOKEN not in daemon.log()
    assert BOT_TOKEN.split(":")[1] not in daemon.log()


def test_unlink_turns_reminders_off(cli: Cli) -> None:
    cli.signup()
    assert "was not linked" in cli.ok("telegram", "unlink").stdout
