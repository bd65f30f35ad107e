"""Progress of a user's habits: what is due today and how the streaks stand.

The arithmetic lives in `habitctl.core.streaks`; this module reads the habits and their
completions, finds each habit's periods and reminder days in the owner's timezone, and shapes
the numbers the CLI prints and `--json` emits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl.core import streaks, timing
from habitctl.core.zones import zone
from habitctl.services.habits import SKIPPED, get_own, list_own
from habitctl.storage.models import Completion, Habit, User

HEATMAP_WEEKS = 53  # a year of weeks, the last one holding today
SPARKLINE_WEEKS = 12


@dataclass(frozen=True)
class HabitProgress:
    habit: Habit
    done: frozenset[date]
    skipped: frozenset[date]
    periods: streaks.Periods
    numbers: streaks.Streaks


@dataclass(frozen=True)
class TodayEntry:
    habit: Habit
    status: streaks.Status
    due_at: datetime
    then: str | None
    numbers: streaks.Streaks


@dataclass
class Days:
    """The recorded days of one user's habits, by habit id: done, and skipped on purpose."""

    done: dict[int, set[date]]
    skipped: dict[int, set[date]]


def recorded_days(db: Session, owner: User) -> Days:
    """Every completion and skip of the owner's habits, in one query."""
    rows = db.execute(
        select(Completion.habit_id, Completion.local_date, Completion.kind)
        .join(Habit, Habit.id == Completion.habit_id)
        .where(Habit.user_id == owner.id)
    )
    days = Days(defaultdict(set), defaultdict(set))
    for habit_id, day, kind in rows:
        (days.skipped if kind == SKIPPED else days.done)[habit_id].add(day)
    return days


def completions_by_habit(db: Session, owner: User) -> dict[int, set[date]]:
    """The days each of the owner's habits was done (skips left out)."""
    return recorded_days(db, owner).done


def periods_of(habit: Habit, owner: User) -> streaks.Periods:
    return periods(habit.created_at, habit.periodicity_days, owner.timezone)


def periods(created_at: datetime, periodicity_days: int, timezone: str) -> streaks.Periods:
    """A habit's periods from its stored columns (`periods_of` for rows, not objects)."""
    return streaks.Periods(
        anchor=timing.local_date(created_at, zone(timezone)), every=periodicity_days
    )


def first_due(habit: Habit, owner: User) -> date:
    """A local day the habit's reminder falls on; the others are every N days from it.

    A useful habit's reminders follow `next_reminder_at`, which the daemon advances N local
    days at a time, so its scheduled date fixes the phase. A pleasant habit has no reminder:
    its days count from its first local time at or after creation, as a reminder would.
    """
    tz = zone(owner.timezone)
    if habit.next_reminder_at is not None:
        return timing.scheduled_date(habit.next_reminder_at, habit.time, tz)
    return _first_day(habit, owner)


def _first_day(habit: Habit, owner: User) -> date:
    tz = zone(owner.timezone)
    return timing.local_date(timing.first_occurrence(habit.time, tz, habit.created_at), tz)


def scheduled_on(habit: Habit, owner: User, day: date) -> bool:
    """Whether a reminder falls on local `day`: one of its days, and not before the first."""
    return day >= _first_day(habit, owner) and streaks.is_scheduled(
        day, first_due(habit, owner), habit.periodicity_days
    )


def progress(
    db: Session, owner: User, now: datetime, days: int, habit_id: int | None = None
) -> list[HabitProgress]:
    """Streaks and rate over the last `days` days for each habit (or the one asked for)."""
    habits = [get_own(db, owner, habit_id)] if habit_id is not None else list_own(db, owner)
    recorded = recorded_days(db, owner)
    today = timing.local_date(now, zone(owner.timezone))
    result = []
    for habit in habits:
        periods = periods_of(habit, owner)
        done = frozenset(recorded.done.get(habit.id, ()))
        skipped = frozenset(recorded.skipped.get(habit.id, ()))
        numbers = streaks.streaks(periods, done, today, days, skipped)
        result.append(HabitProgress(habit, done, skipped, periods, numbers))
    return result


def follow_up(habit: Habit, actions: dict[int, str]) -> str | None:
    """What follows the habit: its reward or its linked pleasant habit."""
    if habit.reward:
        return f"reward: {habit.reward}"
    if habit.linked_habit_id is not None:
        return f"then #{habit.linked_habit_id} {actions.get(habit.linked_habit_id, '')}".rstrip()
    return None


def today(db: Session, owner: User, now: datetime) -> tuple[date, list[TodayEntry]]:
    """The owner's local date and the habits it holds, in time order.

    A habit is listed when its reminder falls today (never before its first reminder day),
    when it was done today, or when today is the last day to keep its streak alive.
    """
    tz = zone(owner.timezone)
    day = timing.local_date(now, tz)
    habits = list_own(db, owner)
    actions = {habit.id: habit.action for habit in habits}
    recorded = recorded_days(db, owner)
    entries = []
    for habit in habits:
        periods = periods_of(habit, owner)
        days_done = recorded.done.get(habit.id, set())
        days_skipped = recorded.skipped.get(habit.id, set())
        numbers = streaks.streaks(periods, days_done, day, 1, days_skipped)
        done_set = streaks.done_periods(periods, days_done, day)
        period_done = periods.index(day) in done_set
        period_skipped = periods.index(day) in streaks.skipped_periods(
            periods, days_skipped, day, done_set
        )
        scheduled = scheduled_on(habit, owner, day)
        last_chance = numbers.days_until_break == 0 and not (period_done or period_skipped)
        if not (scheduled or day in days_done or day in days_skipped or last_chance):
            continue
        due_at = timing.local_instant(day, habit.time, tz)
        status = streaks.today_status(period_done, scheduled, due_at, now, period_skipped)
        entries.append(TodayEntry(habit, status, due_at, follow_up(habit, actions), numbers))
    entries.sort(key=lambda entry: (entry.due_at, entry.habit.id))
    return day, entries


def rate_percent(numbers: streaks.Streaks) -> int | None:
    return None if numbers.rate is None else round(numbers.rate * 100)


def progress_json(item: HabitProgress, today_: date, days: int) -> dict[str, Any]:
    habit, numbers = item.habit, item.numbers
    window_start = today_ - timedelta(days=days - 1)
    tracked_from = item.periods.first_day(
        streaks.first_tracked(item.periods, streaks.done_periods(item.periods, item.done, today_))
    )
    return {
        "id": habit.id,
        "action": habit.action,
        "periodicity_days": habit.periodicity_days,
        "current_streak": numbers.current,
        "longest_streak": numbers.longest,
        "completion_rate": None if numbers.rate is None else round(numbers.rate, 4),
        "periods_done": numbers.periods_done,
        "periods_counted": numbers.periods_counted,
        "days_until_break": numbers.days_until_break,
        # The rate counts from here: the window's first day, or the habit's own when later.
        "rate_since": max(window_start, tracked_from).isoformat(),
        "completions_in_window": sum(1 for d in item.done if window_start <= d <= today_),
        "skips_in_window": sum(1 for d in item.skipped if window_start <= d <= today_),
        "last_done": max(item.done).isoformat() if item.done else None,
    }


def today_json(entry: TodayEntry) -> dict[str, Any]:
    habit = entry.habit
    return {
        "id": habit.id,
        "action": habit.action,
        "place": habit.place,
        "time": f"{habit.time:%H:%M}",
        "due_at": entry.due_at.isoformat().replace("+00:00", "Z"),
        "status": entry.status.value,
        "is_pleasant": habit.is_pleasant,
        "reward": habit.reward,
        "linked_habit_id": habit.linked_habit_id,
        "then": entry.then,
        "current_streak": entry.numbers.current,
        "days_until_break": entry.numbers.days_until_break,
    }
