"""The words of a reminder, and the data its "Done ✅" button carries."""

from __future__ import annotations

from datetime import date, time


def reminder_text(
    at: time,
    action: str,
    place: str,
    duration_seconds: int,
    reward: str | None,
    linked_action: str | None,
) -> str:
    then = reward if reward is not None else linked_action
    text = f"⏰ {at:%H:%M} — I will {action} in {place} (≤ {duration_seconds} s)."
    return f"{text} Then: {then}." if then else text


def done_button_data(habit_id: int, day: date) -> str:
    """Callback data (≤ 64 bytes): which habit, and which local day the reminder was for."""
    return f"done:{habit_id}:{day:%Y%m%d}"


def parse_done_button(data: str) -> tuple[int, date] | None:
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != "done" or not parts[1].isdigit():
        return None
    try:
        day = date(int(parts[2][:4]), int(parts[2][4:6]), int(parts[2][6:8]))
    except ValueError:
        return None
    return int(parts[1]), day
