"""The current streak of each habit a batch of reminders is for, as `habitctl stats` has it.

Set-based for the daemon: one query for the habits, one for their recorded days, whoever
owns them; the numbers come from the same functions `services.progress` uses.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl.core import streaks, timing
from habitctl.core.zones import zone
from habitctl.services.habits import SKIPPED
from habitctl.services.progress import periods
from habitctl.storage.models import Completion, Habit, User


def current_streaks(db: Session, habit_ids: list[int], now: datetime) -> dict[int, int]:
    """Habit id → its current streak today in its owner's zone (habits it cannot tell left out)."""
    if not habit_ids:
        return {}
    # Columns, not mapped objects: the daemon asks for every batch it sends.
    habits = db.execute(
        select(Habit.id, Habit.created_at, Habit.periodicity_days, User.timezone)
        .join(User, User.id == Habit.user_id)
        .where(Habit.id.in_(habit_ids))
    ).all()
    done: dict[int, set[date]] = defaultdict(set)
    skipped: dict[int, set[date]] = defaultdict(set)
    rows = db.execute(
        select(Completion.habit_id, Completion.local_date, Completion.kind).where(
            Completion.habit_id.in_(habit_ids)
        )
    )
    for habit_id, day, kind in rows:
        (skipped if kind == SKIPPED else done)[habit_id].add(day)
    found = {}
    for habit_id, created_at, every, timezone in habits:
        try:
            today = timing.local_date(now, zone(timezone))
            numbers = streaks.streaks(
                periods(created_at, every, timezone), done[habit_id], today, 1, skipped[habit_id]
            )
        except Exception:  # noqa: S112 - one habit's bad data names no streak, the rest do
            continue
        found[habit_id] = numbers.current
    return found
