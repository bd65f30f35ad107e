"""What a person sees at 80 columns, and nothing stale or repeated (SPEC §6, §7)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.cells import cell_len
from sqlalchemy import update

from habitctl.cli.exitcodes import ExitCode
from habitctl.storage.models import Habit
from tests.cli import Cli
from tests.users import backdate, logged_in, write_raw

D = timedelta(days=1)
LONG = "meditate quietly with the breathing exercise from the book"
REMINDERS_OFF = "Reminders are off until Telegram is linked"


@pytest.fixture
def alice(cli: Cli) -> Cli:
    return logged_in(cli)


def words_whole(screen: str, words: list[str]) -> None:
    """Each word appears whole on some line: no "medita/te" across a line break."""
    for word in words:
        assert re.search(rf"\b{re.escape(word)}\b", screen), (word, screen)


def test_public_at_80_columns_breaks_no_word(alice: Cli) -> None:
    alice.add(LONG, "--at", "07:30", "--place", "the bedroom upstairs", "--reward",
              "a cup of green tea", "--public")  # fmt: skip
    screen = alice.ok("public", COLUMNS="80").stdout
    assert all(cell_len(line) <= 80 for line in screen.splitlines())
    words_whole(screen, [*LONG.split(), "bedroom", "upstairs", "green"])


def test_list_at_80_columns_puts_each_habit_on_one_or_two_lines(alice: Cli) -> None:
    for n in range(3):
        alice.add(f"stretch {n}", "--at", "07:30", "--place", "living room", "--reward",
                  "tea and a biscuit", "--every", "2")  # fmt: skip
    screen = alice.ok("list", COLUMNS="80").stdout
    lines = screen.splitlines()
    assert all(cell_len(line) <= 80 for line in lines)
    rows = [line for line in lines if re.search(r"stretch \d", line)]
    assert len(rows) == 3
    body = [
        line for line in lines if line.strip() and not set(line.strip()) <= set("─━┃│┏┓┗┛┡┩└┘┌┐")
    ]
    assert len(body) <= 3 * 2 + 4, screen  # title, header, three short rows
    narrow = alice.ok("list", COLUMNS="50").stdout
    assert all(cell_len(line) <= 50 for line in narrow.splitlines())
    words_whole(narrow, ["stretch", "living"])


def test_stats_days_changes_the_heatmap(alice: Cli) -> None:
    alice.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    backdate(alice, 1, 60)
    today = datetime.now(UTC).date()
    for n in (0, 3, 20, 40):
        alice.ok("done", "1", "--date", (today - n * D).isoformat())
    year = alice.ok("stats", "1").stdout
    week = alice.ok("stats", "1", "--days", "7").stdout
    assert year.count("█") - week.count("█") == 2  # the legend's █ is on both
    assert "last 7 days" in week


def test_a_habit_made_today_is_not_a_rate_over_thirty_days(alice: Cli) -> None:
    alice.add("walk", "--at", "00:00", "--place", "park", "--reward", "tea")
    alice.ok("done", "1")
    screen = alice.ok("stats", "1").stdout
    assert "over the last" not in screen
    assert "since today" in screen
    table = alice.ok("stats").stdout
    assert "over the last 30 days" not in table


def test_public_json_nulls_the_id_of_a_linked_private_habit(alice: Cli) -> None:
    tea = alice.add("tea", "--at", "07:00", "--place", "kitchen", "--pleasant")
    alice.add("read", "--at", "07:30", "--place", "bed", "--linked", str(tea["id"]), "--public")
    stranger = alice.as_user("stranger")
    listed = stranger.ok("public", "--json").json()
    assert [h["linked_habit_id"] for h in listed] == [None]
    assert stranger.ok("show", "2", "--json").json()["linked_habit_id"] is None
    assert alice.ok("show", "2", "--json").json()["linked_habit_id"] == tea["id"]  # her own
    alice.ok("edit", str(tea["id"]), "--public")
    assert [h["linked_habit_id"] for h in stranger.ok("public", "--json").json()] == [
        None,
        tea["id"],
    ]


def test_next_reminder_is_never_shown_in_the_past(alice: Cli) -> None:
    alice.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea", "--every", "2")
    stale = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0) - 9 * D
    write_raw(alice, update(Habit).values(next_reminder_at=stale))
    habit = alice.ok("show", "1", "--json").json()
    shown = datetime.fromisoformat(habit["next_reminder_at"])
    assert shown > datetime.now(UTC)
    assert shown - datetime.now(UTC) <= 2 * D
    assert (shown - stale).days % 2 == 0  # still every second day from the schedule
    assert (shown.hour, shown.minute) == (7, 0)
    assert alice.ok("list", "--json").json()[0]["next_reminder_at"] == habit["next_reminder_at"]


def test_the_reminders_off_note_is_said_once_not_after_every_command(alice: Cli) -> None:
    first = alice.ok("add", "walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    assert first.stderr.count(REMINDERS_OFF) == 1
    second = alice.ok("add", "read", "--at", "08:00", "--place", "bed", "--reward", "tea")
    assert REMINDERS_OFF not in second.stdout + second.stderr
    listed = alice.ok("list")
    assert (listed.stdout + listed.stderr).count(REMINDERS_OFF) == 1
    assert REMINDERS_OFF not in alice.ok("show", "1").stdout


def test_telegram_link_without_a_bot_says_why_the_code_cannot_work(alice: Cli) -> None:
    outcome = alice.ok("telegram", "link")
    assert "no Telegram bot is configured" in outcome.stdout + outcome.stderr
    assert "bot_token" in outcome.stdout + outcome.stderr
    as_json = alice.ok("telegram", "link", "--json").json()
    assert as_json["url"] is None
    assert as_json["bot_configured"] is False


def test_rm_says_r8_before_asking_anything(alice: Cli) -> None:
    tea = alice.add("tea", "--at", "07:00", "--place", "kitchen", "--pleasant")
    alice.add("read", "--at", "07:30", "--place", "bed", "--linked", str(tea["id"]))
    outcome = alice("rm", str(tea["id"]), input="y\n")
    assert outcome.exit_code == ExitCode.CONFLICT, outcome
    assert "R8" in outcome.stderr
    assert "[y/N]" not in outcome.stdout
