"""The bot's own words in the chat: help, /today, /stats and what a press recorded.

English throughout; a habit's own words are shown as written (`habit_clause`), Russian
included. Plain text (no parse mode), so nothing a person typed is read as markup.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from habitctl.core.sentence import habit_clause
from habitctl.core.streaks import Status
from habitctl.services.progress import HabitProgress, TodayEntry
from habitctl.services.reminder_buttons import SNOOZED, PressOutcome

LINK_FIRST = (
    "I send your habitctl reminders. To link this chat, run `habitctl telegram link` in "
    "your terminal and open the link it prints."
)
NOT_OURS = "This button is not one of habitctl's."
NOT_LINKED = "This chat is not linked to habitctl: run `habitctl telegram link` to link it."
GONE = "That habit is not one of yours, or no longer exists."
COMMANDS = [
    ("today", "What is due today, with Done, Later and Skip"),
    ("stats", "Current and longest streak of each habit"),
    ("help", "What this bot does"),
]
MARKS = {Status.DONE: "✅", Status.SKIPPED: "⏭", Status.DUE: "☐", Status.MISSED: "☐"}


def help_text(snooze_minutes: float) -> str:
    minutes = f"{snooze_minutes:g} minute{'s' if snooze_minutes != 1 else ''}"
    return (
        "I send your habitctl reminders. On each one: Done ✅ records it, Later ⏰ sends it "
        f"again in {minutes} (once), Skip records the day skipped (the streak is kept).\n"
        + "\n".join(f"/{name} — {description}" for name, description in COMMANDS)
    )


def local_clock(instant: datetime, timezone: str) -> str:
    try:
        return f"{instant.astimezone(ZoneInfo(timezone)):%H:%M}"
    except (ValueError, KeyError):  # a zone this machine does not know: say it in UTC
        return f"{instant:%H:%M} UTC"


def today_text(day: date, timezone: str, entries: list[TodayEntry]) -> str:
    if not entries:
        return f"Today, {day:%a %d %b}: nothing is due."
    lines = [f"Today, {day:%a %d %b} ({timezone}):"]
    for entry in entries:
        habit = entry.habit
        clause = habit_clause(habit.action, habit.place)
        lines.append(
            f"{MARKS[entry.status]} {habit.time:%H:%M} #{habit.id} {clause} — {entry.status.value}"
        )
    return "\n".join(lines)


def stats_text(items: list[HabitProgress]) -> str:
    if not items:
        return 'No habits yet: add one with `habitctl add "I will … at HH:MM in …"`.'
    lines = ["Streaks, in occurrences (as `habitctl stats` counts them):"]
    for item in items:
        numbers = item.numbers
        lines.append(
            f"#{item.habit.id} {item.habit.action} — current {numbers.current}, "
            f"longest {numbers.longest}"
        )
    return "\n".join(lines)


def recorded_line(outcome: PressOutcome, timezone: str) -> str:
    """What the edited message says was recorded."""
    if outcome.recorded == SNOOZED and outcome.again_at is not None:
        return f"⏰ Later: it comes again at {local_clock(outcome.again_at, timezone)}"
    if outcome.recorded == "skipped":
        return f"⏭ Skipped on {outcome.day:%Y-%m-%d}: the streak is kept"
    return f"✅ Done on {outcome.day:%Y-%m-%d}"


def answer_text(outcome: PressOutcome, timezone: str) -> str:
    """The callback's answer (the small notice the client shows)."""
    if outcome.already == SNOOZED:
        if outcome.again_at is None:  # sent again already, or cancelled
            return "Already snoozed once: Later works once per reminder."
        return f"Already snoozed: it comes again at {local_clock(outcome.again_at, timezone)}."
    if outcome.already is not None:
        return f"Already recorded: {outcome.already} on {outcome.day:%Y-%m-%d}."
    if outcome.recorded == SNOOZED and outcome.again_at is not None:
        return f"I will remind you again at {local_clock(outcome.again_at, timezone)}."
    if outcome.recorded == "skipped":
        return "Recorded: skipped ⏭ (the streak is kept)"
    return "Recorded ✅"
