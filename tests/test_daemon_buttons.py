"""Telegram both ways (SPEC §7 "Linking and buttons"): Done, Later and Skip on every
reminder; /today, /stats and /help in the chat. Real `habitctl-daemon` processes, the real
python-telegram-bot, the fake Bot API over HTTP, both backends."""

from __future__ import annotations

import re
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update

from habitctl.storage.models import Completion, Habit, ReminderSnooze
from tests.cli import Cli
from tests.daemon_harness import DaemonProcess, Start, daemon_env, wait_until
from tests.fakebot import FakeBotAPI
from tests.users import backdate, logged_in, write_raw

CHAT = 555_001
SNOOZE_S = 3.0  # HABITCTL_DAEMON_SNOOZE_MINUTES below
JSON = dict[str, Any]


def link(cli: Cli, chat: int = CHAT) -> Cli:
    logged_in(cli)
    write_raw(
        cli,
        "UPDATE user_contacts SET telegram_chat_id = :chat "
        "WHERE user_id = (SELECT id FROM users WHERE username = :name)",
        chat=chat,
        name=cli.username,
    )
    return cli


def start(daemons: Start, cli: Cli, fake: FakeBotAPI, snooze_s: float = SNOOZE_S) -> DaemonProcess:
    env = daemon_env(cli.database_url, fake, HABITCTL_DAEMON_SNOOZE_MINUTES=str(snooze_s / 60))
    daemon = daemons(env)
    daemon.wait_for_log("daemon ready", timeout=60)  # a loaded machine imports slowly
    return daemon


def make_due(cli: Cli, *habit_ids: int) -> None:
    write_raw(
        cli,
        update(Habit)
        .where(Habit.id.in_(habit_ids))
        .values(next_reminder_at=datetime.now(UTC) - timedelta(seconds=5)),
    )


def reminders(fake: FakeBotAPI, chat: int = CHAT, containing: str = "") -> list[JSON]:
    return [
        c
        for c in fake.sent_messages()
        if c["params"]["chat_id"] == chat
        and c["params"]["text"].startswith("⏰")
        and containing in c["params"]["text"]
    ]


def wait_reminders(
    fake: FakeBotAPI, count: int, containing: str = "", chat: int = CHAT
) -> list[JSON]:
    return wait_until(
        lambda: (found := reminders(fake, chat, containing)) and len(found) >= count and found,
        timeout=60,
        what=f"{count} reminder(s) {containing!r}",
    )


def buttons(message: JSON) -> list[JSON]:
    markup = message["params"].get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def button(message: JSON, label: str) -> JSON:
    [found] = [b for b in buttons(message) if label in b["text"]]
    return found


def callback(message: JSON, data: str, chat: int = CHAT) -> JSON:
    """A press of a button carrying `data` on `message`, as the fake Bot API builds it."""
    return {
        "type": "callback",
        "chat_id": chat,
        "message_id": message["result"]["message_id"],
        "message_text": message["params"]["text"],
        "data": data,
    }


def press(fake: FakeBotAPI, message: JSON, data: str, chat: int = CHAT) -> JSON:
    [update_] = fake.push_updates([callback(message, data, chat)])
    query_id = update_["callback_query"]["id"]
    return wait_until(
        lambda: next(
            (
                c["params"]
                for c in fake.calls("answerCallbackQuery")
                if c["params"]["callback_query_id"] == query_id
            ),
            None,
        ),
        what="the press answered",
    )


def command(fake: FakeBotAPI, words: str, chat: int = CHAT) -> JSON:
    before = len(fake.sent_messages())
    fake.push_updates([{"type": "message", "chat_id": chat, "text": words}])
    return wait_until(
        lambda: next(
            (c for c in fake.sent_messages()[before:] if c["params"]["chat_id"] == chat), None
        ),
        what=f"the answer to {words}",
    )


def edits(fake: FakeBotAPI, message: JSON) -> list[JSON]:
    mid = message["result"]["message_id"]
    return [c["params"] for c in fake.calls("editMessageText") if c["params"]["message_id"] == mid]


def completions(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Completion.habit_id, Completion.local_date, Completion.kind))
        return sorted((row[0], str(row[1]), row[2]) for row in rows)


def add_walk(cli: Cli, action: str = "walk") -> int:
    return int(cli.add(f"I will {action} at 07:30 in the park", "--reward", "tea")["id"])


# ------------------------------------------------------------------ the reminder


def test_a_reminder_carries_three_buttons_names_the_streak_and_keeps_russian(
    cli: Cli, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk = add_walk(cli)
    russian = int(cli.add("Я буду медитировать в 07:30 на балконе", "--reward", "чай")["id"])
    backdate(cli, walk, 3)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    for day in (yesterday - timedelta(days=1), yesterday):
        cli.ok("done", str(walk), "--date", day.isoformat())
    expected = cli.ok("stats", str(walk), "--json").json()["current_streak"]
    assert expected == 2
    daemon = start(daemons, cli, fake_bot)
    commands = wait_until(lambda: fake_bot.calls("setMyCommands"), what="setMyCommands")
    names = {c["command"] for c in commands[0]["params"]["commands"]}
    assert names == {"today", "stats", "help"}

    make_due(cli, walk, russian)
    [message] = wait_reminders(fake_bot, 1, "walk")
    assert [b["text"] for b in buttons(message)] == ["Done ✅", "Later ⏰", "Skip"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(message))
    assert message["params"]["text"].endswith("\n🔥 2 in a row")
    [spoken] = wait_reminders(fake_bot, 1, "медитировать")
    assert "Я буду медитировать на балконе" in spoken["params"]["text"]
    assert "I will" not in spoken["params"]["text"]
    assert "🔥" not in spoken["params"]["text"]  # no streak yet: none named
    assert daemon.stop(timeout=30) == 0


# ------------------------------------------------------------------ Later


def test_later_resends_the_reminder_exactly_once_after_the_snooze(
    cli: Cli, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk = add_walk(cli)
    daemon = start(daemons, cli, fake_bot)
    make_due(cli, walk)
    [first] = wait_reminders(fake_bot, 1)
    pressed_at = time.monotonic()
    answer = press(fake_bot, first, button(first, "Later")["callback_data"])
    assert "again" in answer["text"].lower()
    [edit] = wait_until(lambda: edits(fake_bot, first), what="the message edited")
    assert "reply_markup" not in edit  # its buttons are gone
    assert "Later" in edit["text"] or "again" in edit["text"]

    again = wait_reminders(fake_bot, 2)
    resent = again[1]
    assert resent["ts"] - first["ts"] >= SNOOZE_S - 0.5
    assert time.monotonic() - pressed_at >= SNOOZE_S - 0.5
    assert resent["params"]["text"] == first["params"]["text"]
    assert [b["text"] for b in buttons(resent)] == ["Done ✅", "Skip"]  # once per occurrence

    # The old Later pressed again: answered, nothing more is planned.
    answer = press(fake_bot, first, button(first, "Later")["callback_data"])
    assert "already" in answer["text"].lower()
    time.sleep(SNOOZE_S * 2)
    assert len(reminders(fake_bot)) == 2
    assert daemon.stop(timeout=30) == 0


def test_snoozed_reminders_keep_to_the_pace_of_one_message_a_second_per_chat(
    cli: Cli, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk, read = add_walk(cli), add_walk(cli, "read")
    daemon = start(daemons, cli, fake_bot)
    make_due(cli, walk, read)
    firsts = wait_reminders(fake_bot, 2)
    fake_bot.push_updates(  # both pressed at once: both snoozes come due together
        [callback(m, button(m, "Later")["callback_data"]) for m in firsts]
    )
    again = wait_reminders(fake_bot, 4)[2:]
    assert sorted(m["params"]["text"] for m in again) == sorted(m["params"]["text"] for m in firsts)
    assert abs(again[1]["ts"] - again[0]["ts"]) >= 0.95  # Telegram's 1 a second per chat
    assert daemon.stop(timeout=30) == 0


@pytest.mark.slow
def test_a_snooze_survives_kill_9_and_is_sent_once_by_the_next_daemon(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk = add_walk(cli)
    daemon = start(daemons, cli, fake_bot, snooze_s=6.0)
    make_due(cli, walk)
    [first] = wait_reminders(fake_bot, 1)
    press(fake_bot, first, button(first, "Later")["callback_data"])
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM reminder_snoozes")) == 1
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.kill()
    assert len(reminders(fake_bot)) == 1

    second = start(daemons, cli, fake_bot, snooze_s=6.0)
    again = wait_reminders(fake_bot, 2, containing="walk")
    assert again[1]["params"]["text"] == first["params"]["text"]
    time.sleep(4)
    assert len(reminders(fake_bot)) == 2
    assert second.stop(timeout=30) == 0


def test_later_is_cancelled_by_done_skip_edit_or_delete_meanwhile(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    snooze_s = 600.0  # never due by itself while the test acts: brought forward below
    link(cli)
    names = ("pressed", "skipped", "edited", "deleted", "kept")
    habits = {name: add_walk(cli, name) for name in names}
    daemon = start(daemons, cli, fake_bot, snooze_s=snooze_s)
    make_due(cli, *habits.values())
    sent = {name: wait_reminders(fake_bot, 1, f"I will {name} ")[0] for name in habits}
    fake_bot.push_updates([callback(m, button(m, "Later")["callback_data"]) for m in sent.values()])
    wait_until(lambda: len(fake_bot.calls("answerCallbackQuery")) == len(names), 60)
    # Before the re-send: the Done still on the old message, the CLI for the others.
    answer = press(fake_bot, sent["pressed"], button(sent["pressed"], "Done")["callback_data"])
    assert "recorded" in answer["text"].lower()
    cli.ok("skip", str(habits["skipped"]))
    cli.ok("edit", str(habits["edited"]), "--place", "the garden")
    cli.ok("rm", str(habits["deleted"]), "--yes")
    assert len(reminders(fake_bot)) == 5, "a snooze went before it was due"
    write_raw(
        cli,
        update(ReminderSnooze)
        .where(ReminderSnooze.due_at.is_not(None))
        .values(due_at=datetime.now(UTC) - timedelta(seconds=1)),
    )

    wait_reminders(fake_bot, 6)  # the five reminders, the one snooze that stands
    time.sleep(3)
    texts = [c["params"]["text"] for c in reminders(fake_bot)]
    assert len(texts) == 6, texts
    assert sum("I will kept " in t for t in texts) == 2
    with engine.connect() as conn:
        outcomes = conn.execute(text("SELECT outcome FROM reminder_snoozes")).scalars().all()
    assert sorted(outcomes) == ["edited", "recorded", "recorded", "sent"]  # the deleted is gone
    assert daemon.stop(timeout=30) == 0


# ------------------------------------------------------------------ Done, Skip


def test_done_records_the_day_and_a_second_press_changes_nothing(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk = add_walk(cli)
    daemon = start(daemons, cli, fake_bot)
    make_due(cli, walk)
    [message] = wait_reminders(fake_bot, 1)
    today = datetime.now(UTC).date().isoformat()
    answer = press(fake_bot, message, button(message, "Done")["callback_data"])
    assert answer["text"].startswith("Recorded")
    [edit] = wait_until(lambda: edits(fake_bot, message), what="the message edited")
    assert "✅ Done" in edit["text"]
    assert "reply_markup" not in edit
    assert completions(engine) == [(walk, today, "done")]

    for label in ("Done", "Skip", "Later"):  # old buttons of a recorded day
        answer = press(fake_bot, message, button(message, label)["callback_data"])
        assert "already recorded" in answer["text"].lower()
    time.sleep(SNOOZE_S + 1)
    assert completions(engine) == [(walk, today, "done")]
    assert len(reminders(fake_bot)) == 1
    assert daemon.stop(timeout=30) == 0


def test_skip_records_the_day_skipped_and_the_streak_stays_unbroken(
    cli: Cli, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk = add_walk(cli)
    backdate(cli, walk, 3)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    for day in (yesterday - timedelta(days=1), yesterday):
        cli.ok("done", str(walk), "--date", day.isoformat())
    daemon = start(daemons, cli, fake_bot)
    make_due(cli, walk)
    [message] = wait_reminders(fake_bot, 1)
    answer = press(fake_bot, message, button(message, "Skip")["callback_data"])
    assert "skipped" in answer["text"].lower()
    [edit] = wait_until(lambda: edits(fake_bot, message), what="the message edited")
    assert "Skipped" in edit["text"]
    assert "reply_markup" not in edit

    stats = cli.ok("stats", str(walk), "--json").json()
    today = datetime.now(UTC).date().isoformat()
    assert stats["skipped_dates"] == [today]
    assert stats["current_streak"] == 2  # unbroken, not extended
    assert cli.ok("today", "--json").json()["habits"][0]["status"] == "skipped"
    assert daemon.stop(timeout=30) == 0


# ------------------------------------------------------------------ forged presses


def test_forged_presses_are_refused_and_change_nothing(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    bob = link(cli.as_user("bob"), chat=CHAT + 1)
    walk = add_walk(cli)
    bobs = add_walk(bob, "run")
    daemon = start(daemons, cli, fake_bot)
    make_due(cli, walk, bobs)
    [alice_msg] = wait_reminders(fake_bot, 1)
    [bob_msg] = wait_reminders(fake_bot, 1, chat=CHAT + 1)
    done = button(alice_msg, "Done")["callback_data"]
    kind_habit, day, occurrence, signature = done.split(":")
    bob_day = button(bob_msg, "Done")["callback_data"].split(":")

    forgeries = [
        (alice_msg, f"{kind_habit[0]}{bobs}:{day}:{occurrence}:{signature}", CHAT),  # Bob's habit
        (bob_msg, done, CHAT + 1),  # Alice's button pressed in Bob's chat
        (alice_msg, f"{kind_habit}:{int(day) - 1}:{occurrence}:{signature}", CHAT),  # another day
        (alice_msg, f"s{kind_habit[1:]}:{day}:{occurrence}:{signature}", CHAT),  # another kind
        (alice_msg, f"{kind_habit}:{day}:{occurrence}:{bob_day[3]}", CHAT),  # Bob's signature
        (alice_msg, f"done:{walk}:{day}", CHAT),  # the old unsigned form
        (alice_msg, "garbage", CHAT),
        (alice_msg, done, CHAT + 2),  # a chat that is not linked
    ]
    for message, data, chat in forgeries:
        answer = press(fake_bot, message, data, chat=chat)
        assert answer.get("text"), data  # answered, so the client stops spinning
        assert "recorded" not in answer["text"].lower(), (data, answer)
    time.sleep(SNOOZE_S + 1)
    assert completions(engine) == []
    assert fake_bot.calls("editMessageText") == []
    assert len(fake_bot.sent_messages()) == 2
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM reminder_snoozes")) == 0
    assert daemon.stop(timeout=30) == 0


# ------------------------------------------------------------------ chat commands


def test_today_lists_exactly_todays_habits_with_buttons_that_work(
    cli: Cli, engine: Engine, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    now = datetime.now(UTC)
    later = (now + timedelta(minutes=30)).strftime("%H:%M") if now.hour < 23 else "23:59"
    due = int(cli.add(f"I will walk at {later} in the park", "--reward", "tea")["id"])
    other = int(cli.add(f"I will read at {later} in bed", "--reward", "tea")["id"])
    # Every 2 days from tomorrow: not today's.
    cli.add("I will swim at 00:00 in the pool", "--every", "2", "--reward", "tea")
    daemon = start(daemons, cli, fake_bot)

    listed = command(fake_bot, "/today")
    expected = [h["id"] for h in cli.ok("today", "--json").json()["habits"]]
    assert due in expected
    assert other in expected
    assert [int(i) for i in re.findall(r"#(\d+)", listed["params"]["text"])] == expected
    rows = listed["params"]["reply_markup"]["inline_keyboard"]
    assert [[b["text"].split()[-1] if i == 0 else b["text"] for i, b in enumerate(row)]
            for row in rows] == [["#" + str(h), "Later ⏰", "Skip"] for h in expected]  # fmt: skip

    [done_button] = [row[0] for row in rows if row[0]["text"].endswith(f"#{due}")]
    answer = press(fake_bot, listed, done_button["callback_data"])
    assert answer["text"].startswith("Recorded")
    states = {h["id"]: h["status"] for h in cli.ok("today", "--json").json()["habits"]}
    assert states[due] == "done"
    assert states[other] != "done"
    [edit] = wait_until(lambda: edits(fake_bot, listed), what="the list edited")
    left = [row[0]["text"] for row in edit["reply_markup"]["inline_keyboard"]]
    assert left == [f"Done ✅ #{h}" for h in expected if h != due]
    assert daemon.stop(timeout=30) == 0


def test_stats_in_the_chat_match_habitctl_stats(
    cli: Cli, fake_bot: FakeBotAPI, daemons: Start
) -> None:
    link(cli)
    walk, read = add_walk(cli), add_walk(cli, "read")
    backdate(cli, walk, 5)
    backdate(cli, read, 5)
    today = datetime.now(UTC).date()
    for back in (4, 3, 1):
        cli.ok("done", str(walk), "--date", (today - timedelta(days=back)).isoformat())
    cli.ok("skip", str(walk), "--date", (today - timedelta(days=2)).isoformat())
    cli.ok("done", str(read), "--date", (today - timedelta(days=3)).isoformat())
    daemon = start(daemons, cli, fake_bot)

    reply = command(fake_bot, "/stats")["params"]["text"]
    shown = {
        int(m[0]): (int(m[1]), int(m[2]))
        for m in re.findall(r"^#(\d+) .* — current (\d+), longest (\d+)$", reply, re.MULTILINE)
    }
    expected = {
        h["id"]: (h["current_streak"], h["longest_streak"])
        for h in cli.ok("stats", "--json").json()["habits"]
    }
    assert shown == expected
    assert shown[walk] == (3, 3)  # the skip passed over, not broken
    assert daemon.stop(timeout=30) == 0


def test_help_and_an_unlinked_chat(cli: Cli, fake_bot: FakeBotAPI, daemons: Start) -> None:
    link(cli)
    daemon = start(daemons, cli, fake_bot)
    helped = command(fake_bot, "/help")["params"]["text"]
    assert "/today" in helped
    assert "/stats" in helped
    assert "Later" in helped
    for words in ("/today", "/stats", "/help", "hello"):
        reply = command(fake_bot, words, chat=CHAT + 9)["params"]["text"]
        assert "habitctl telegram link" in reply, (words, reply)
    assert daemon.stop(timeout=30) == 0


def test_snooze_rows_are_counted_per_habit_and_occurrence(engine: Engine) -> None:
    """The schema: one snooze per habit and occurrence; a delivery per habit, occurrence and
    snooze (the re-send is a record of its own beside the reminder's)."""
    from sqlalchemy import inspect

    names = {
        tuple(u["column_names"])
        for u in inspect(engine).get_unique_constraints("reminder_deliveries")
    }
    assert ("habit_id", "occurrence_at", "snooze") in names
    names = {
        tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints("reminder_snoozes")
    }
    assert ("habit_id", "occurrence_at") in names
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Completion)) == 0
