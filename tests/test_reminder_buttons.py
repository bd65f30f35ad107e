"""The words of a reminder and the data its buttons carry (SPEC §7 "Linking and buttons").

Pure functions: no daemon, no database. The end-to-end presses are in test_daemon_buttons.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from habitctl.core.reminder_text import (
    DONE,
    LATER,
    SKIP,
    Press,
    button_data,
    read_button,
    reminder_text,
    with_streak,
)

KEY = b"k" * 32
CHAT = 555_001
PRESS = Press(DONE, 42, date(2026, 12, 2), datetime(2026, 12, 2, 7, 30, tzinfo=UTC))


def test_reminder_text_frames_an_english_habit() -> None:
    text = reminder_text(time(7, 30), "walk", "the park", 120, None, "make tea")
    assert text == "⏰ 07:30 — I will walk in the park (≤ 120 s). Then: make tea."


def test_a_place_with_its_own_preposition_is_not_given_a_second_one() -> None:
    text = reminder_text(time(18, 0), "lift weights", "at the gym", 60, "a shake", None)
    assert text == "⏰ 18:00 — I will lift weights at the gym (≤ 60 s). Then: a shake."


def test_a_russian_habit_is_shown_as_written() -> None:
    text = reminder_text(time(7, 30), "медитировать", "на балконе", 120, "чай", None)
    assert "Я буду медитировать на балконе" in text
    assert "I will" not in text
    assert " in на" not in text
    assert text.endswith("Then: чай.")


def test_the_streak_is_named_when_there_is_one() -> None:
    base = reminder_text(time(7, 30), "walk", "the park", 120, "tea", None)
    assert with_streak(base, 0) == base
    assert with_streak(base, 5) == f"{base}\n🔥 5 in a row"


@pytest.mark.parametrize("kind", [DONE, LATER, SKIP])
@pytest.mark.parametrize("from_today", [False, True])
def test_button_data_round_trips_within_telegrams_64_bytes(kind: str, from_today: bool) -> None:
    press = Press(kind, 9_223_372_036_854_775_807, date(9999, 12, 31),
                  datetime(8999, 12, 31, 23, 59, tzinfo=UTC), from_today)  # fmt: skip
    data = button_data(KEY, -1_001_234_567_890, press)
    assert len(data.encode()) <= 64
    assert read_button(KEY, -1_001_234_567_890, data) == press


def test_data_the_bot_never_issued_is_refused() -> None:
    data = button_data(KEY, CHAT, PRESS)
    assert read_button(KEY, CHAT, data) == PRESS
    assert read_button(b"x" * 32, CHAT, data) is None  # another key: not this bot's
    assert read_button(KEY, CHAT + 1, data) is None  # pressed in another chat
    assert read_button(KEY, CHAT, "done:42:20261202") is None  # unsigned
    assert read_button(KEY, CHAT, "") is None
    for i, char in enumerate(data):  # any one character changed: another habit, day, kind…
        for other in {"0", "1", "d", "s", "A", ":"} - {char}:
            assert read_button(KEY, CHAT, data[:i] + other + data[i + 1 :]) is None


def test_another_habit_or_day_cannot_reuse_a_signature() -> None:
    data = button_data(KEY, CHAT, PRESS)
    signature = data.rsplit(":", 1)[1]
    for other in (
        Press(DONE, 43, PRESS.day, PRESS.occurrence),
        Press(DONE, 42, date(2026, 12, 1), PRESS.occurrence),
        Press(SKIP, 42, PRESS.day, PRESS.occurrence),
    ):
        forged = button_data(KEY, CHAT, other).rsplit(":", 1)[0] + ":" + signature
        assert read_button(KEY, CHAT, forged) is None


def test_snooze_minutes_defaults_to_15_accepts_fractions_and_refuses_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from habitctl.config import load_settings
    from habitctl.errors import InvalidInput

    assert load_settings().daemon.snooze_minutes == 15
    monkeypatch.setenv("HABITCTL_DAEMON_SNOOZE_MINUTES", "0.05")
    assert load_settings().daemon.snooze_minutes == 0.05
    monkeypatch.setenv("HABITCTL_DAEMON_SNOOZE_MINUTES", "0")
    with pytest.raises(InvalidInput, match=r"daemon\.snooze_minutes"):
        load_settings()
