"""Streak arithmetic (habitctl.core.streaks): pure functions of local dates, no database."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from habitctl.core import streaks, timing
from habitctl.core.streaks import Mark, Periods, Status
from habitctl.services.progress import first_due, periods_of
from habitctl.storage.models import Habit, User

EVERY = range(1, 8)
D = timedelta(days=1)


def _streaks(anchor: date, every: int, done: set[date], today: date, days: int = 30):
    return streaks.streaks(Periods(anchor, every), done, today, days)


def _reference(anchor: date, every: int, done: set[date], today: date) -> tuple[int, int]:
    """Current and longest streak by walking explicit period boundaries (no floor division)."""
    lowest = min([anchor, *done])
    start = anchor
    while start > lowest:
        start -= every * D
    bounds = []
    while start <= today:
        bounds.append((start, start + (every - 1) * D))
        start += every * D
    flags = [any(first <= d <= last for d in done) for first, last in bounds]
    first_tracked = next(i for i, (a, b) in enumerate(bounds) if a <= min([anchor, *done]) <= b)
    flags = flags[first_tracked:]
    longest = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    tail = flags if flags[-1] else flags[:-1]
    current = 0
    for flag in reversed(tail):
        if not flag:
            break
        current += 1
    return current, longest


@pytest.mark.parametrize("every", EVERY)
def test_streak_matches_an_independent_walk_over_periods(every: int) -> None:
    rng = random.Random(every)
    anchor = date(2026, 12, 20)  # periods cross the year end
    for _ in range(300):
        today = anchor + rng.randrange(0, 40) * D
        done = {anchor + rng.randrange(-30, (today - anchor).days + 1) * D for _ in range(12)}
        done = {d for d in done if rng.random() < 0.7}
        result = _streaks(anchor, every, done, today)
        assert (result.current, result.longest) == _reference(anchor, every, done, today)


@pytest.mark.parametrize("every", EVERY)
def test_done_once_in_each_period_keeps_the_streak_whichever_day(every: int) -> None:
    anchor = date(2026, 12, 30)
    rng = random.Random(7)
    done = {anchor + (k * every + rng.randrange(every)) * D for k in range(6)}
    today = anchor + 6 * every * D  # first day of period 6, not done yet
    result = _streaks(anchor, every, done, today)
    assert result.current == 6
    assert result.longest == 6
    assert result.days_until_break == every - 1


@pytest.mark.parametrize("every", EVERY)
def test_a_whole_empty_period_breaks_the_streak(every: int) -> None:
    anchor = date(2027, 1, 1)
    done = {anchor, anchor + 2 * every * D}  # period 1 empty
    today = anchor + 2 * every * D
    result = _streaks(anchor, every, done, today)
    assert result.current == 1
    assert result.longest == 1


@pytest.mark.parametrize("every", EVERY)
def test_the_open_current_period_does_not_break_the_streak(every: int) -> None:
    anchor = date(2026, 3, 27)  # the Berlin DST weekend is inside: dates do not care
    done = {anchor + k * every * D for k in range(3)}
    last_day_of_period_3 = anchor + (4 * every - 1) * D
    kept = _streaks(anchor, every, done, last_day_of_period_3)
    assert kept.current == 3
    assert kept.days_until_break == 0
    broken = _streaks(anchor, every, done, last_day_of_period_3 + D)
    assert broken.current == 0
    assert broken.days_until_break is None
    assert broken.longest == 3


def test_daily_streak_ending_today_or_yesterday() -> None:
    today = date(2027, 1, 2)
    done = {today - n * D for n in (0, 1, 2)}
    assert _streaks(date(2026, 12, 1), 1, done, today).current == 3
    assert _streaks(date(2026, 12, 1), 1, done, today).days_until_break == 1
    yesterday_run = {d - D for d in done}
    assert _streaks(date(2026, 12, 1), 1, yesterday_run, today).current == 3
    assert _streaks(date(2026, 12, 1), 1, yesterday_run, today).days_until_break == 0
    assert _streaks(date(2026, 12, 1), 1, {d - 2 * D for d in done}, today).current == 0


def test_longest_streak_is_the_longest_run_not_the_latest() -> None:
    anchor = date(2026, 1, 1)
    done = {anchor + n * D for n in (*range(0, 5), *range(8, 10))}
    result = _streaks(anchor, 1, done, anchor + 9 * D)
    assert (result.current, result.longest) == (2, 5)


def test_backfilled_days_before_creation_fall_in_negative_periods() -> None:
    anchor = date(2027, 1, 3)
    periods = Periods(anchor, 3)
    assert periods.index(anchor - D) == -1
    assert periods.index(anchor - 3 * D) == -1
    assert periods.index(anchor - 4 * D) == -2
    assert periods.first_day(-1) == date(2026, 12, 31)
    assert periods.last_day(-1) == date(2027, 1, 2)
    result = _streaks(anchor, 3, {anchor - 3 * D, anchor - 6 * D}, anchor)
    assert result.current == 2
    assert result.days_until_break == 2


def test_rate_counts_periods_in_the_window_and_the_current_one_only_once_done() -> None:
    anchor = date(2026, 11, 1)
    today = date(2026, 11, 30)
    done = {today - n * D for n in (1, 2, 4)}
    open_ = _streaks(anchor, 1, done, today, days=7)
    assert (open_.periods_done, open_.periods_counted) == (3, 6)  # today still open
    assert open_.rate == pytest.approx(0.5)
    closed = _streaks(anchor, 1, done | {today}, today, days=7)
    assert (closed.periods_done, closed.periods_counted) == (4, 7)


def test_rate_ignores_days_before_tracking_began() -> None:
    anchor = date(2026, 11, 28)
    today = date(2026, 11, 30)
    result = _streaks(anchor, 1, {anchor, today}, today, days=30)
    assert (result.periods_done, result.periods_counted) == (2, 3)
    fresh = _streaks(today, 1, set(), today, days=30)
    assert fresh.rate is None
    assert fresh.periods_counted == 0


def test_completions_after_today_are_ignored() -> None:
    today = date(2026, 6, 1)
    result = _streaks(today, 1, {today + D}, today)
    assert (result.current, result.longest) == (0, 0)


def test_day_marks_tell_done_covered_open_missed_and_untracked() -> None:
    anchor = date(2026, 12, 28)
    periods = Periods(anchor, 3)
    today = date(2027, 1, 4)  # periods: 28–30 Dec, 31 Dec–2 Jan, 3–5 Jan (current)
    done = {date(2026, 12, 29)}
    days = [anchor - D + n * D for n in range(10)]
    marks = streaks.day_marks(periods, done, today, days)
    assert marks[date(2026, 12, 27)] is Mark.NONE
    assert marks[date(2026, 12, 28)] is Mark.COVERED
    assert marks[date(2026, 12, 29)] is Mark.DONE
    assert marks[date(2027, 1, 1)] is Mark.MISSED
    assert marks[date(2027, 1, 4)] is Mark.OPEN
    assert marks[date(2027, 1, 5)] is Mark.NONE  # the future


def test_calendar_weeks_run_monday_to_sunday_and_end_with_today() -> None:
    today = date(2027, 1, 1)  # a Friday
    weeks = streaks.calendar_weeks(today, 53)
    assert len(weeks) == 53
    assert all(week[0].weekday() == 0 and len(week) == 7 for week in weeks)
    assert today in weeks[-1]
    assert weeks[0][0] == date(2025, 12, 29)


def test_weekly_share_leaves_out_open_and_untracked_days() -> None:
    today = date(2026, 11, 25)  # a Wednesday
    periods = Periods(date(2026, 11, 16), 1)
    weeks = streaks.calendar_weeks(today, 3)
    days = [d for w in weeks for d in w]
    marks = streaks.day_marks(periods, {date(2026, 11, 16), date(2026, 11, 24)}, today, days)
    # Week 3: the 23rd missed, the 24th done, today open, the rest in the future.
    assert streaks.weekly_share(marks, weeks) == [None, pytest.approx(1 / 7), 0.5]


@pytest.mark.parametrize("every", EVERY)
def test_scheduled_days_repeat_every_n_days_across_the_year_end(every: int) -> None:
    first = date(2026, 12, 30)
    scheduled = [
        first + n * D for n in range(-20, 20) if streaks.is_scheduled(first + n * D, first, every)
    ]
    gaps = {(b - a).days for a, b in itertools.pairwise(scheduled)}
    assert gaps == {every}
    assert first in scheduled


def test_today_status_turns_missed_exactly_at_the_local_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    due_at = timing.local_instant(date(2026, 11, 20), time(7, 30), berlin)
    before = due_at - timedelta(microseconds=1)
    assert streaks.today_status(False, True, due_at, before) is Status.DUE
    assert streaks.today_status(False, True, due_at, due_at) is Status.MISSED
    assert streaks.today_status(True, True, due_at, due_at) is Status.DONE
    assert streaks.today_status(False, False, due_at, due_at) is Status.DUE  # not its day


def test_missed_in_a_spring_forward_gap_follows_the_shifted_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    due_at = timing.local_instant(date(2026, 3, 29), time(2, 30), berlin)
    assert due_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert streaks.today_status(False, True, due_at, datetime(2026, 3, 29, 1, 29, tzinfo=UTC)) is (
        Status.DUE
    )


def _habit(created_at: datetime, at: time, every: int, next_at: datetime | None) -> Habit:
    return Habit(
        id=1,
        time=at,
        periodicity_days=every,
        created_at=created_at,
        next_reminder_at=next_at,
        is_pleasant=next_at is None,
    )


@pytest.mark.parametrize(
    ("zone", "created_utc", "anchor"),
    [
        # Kiritimati (UTC+14) starts a day at 10:00 UTC, Etc/GMT+12 (UTC−12) at 12:00 UTC.
        ("Pacific/Kiritimati", datetime(2026, 12, 31, 10, 0, tzinfo=UTC), date(2027, 1, 1)),
        ("Pacific/Kiritimati", datetime(2026, 12, 31, 9, 59, tzinfo=UTC), date(2026, 12, 31)),
        ("Etc/GMT+12", datetime(2027, 1, 1, 11, 59, tzinfo=UTC), date(2026, 12, 31)),
        ("Etc/GMT+12", datetime(2027, 1, 1, 12, 0, tzinfo=UTC), date(2027, 1, 1)),
        # Berlin's fall-back night: 00:30 local on the 25th is 22:30 UTC on the 24th.
        ("Europe/Berlin", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),
        ("Europe/Berlin", datetime(2026, 3, 28, 22, 59, tzinfo=UTC), date(2026, 3, 28)),
        ("Europe/Berlin", datetime(2026, 3, 28, 23, 0, tzinfo=UTC), date(2026, 3, 29)),
        ("Asia/Kolkata", datetime(2026, 6, 30, 18, 30, tzinfo=UTC), date(2026, 7, 1)),
    ],
)
def test_periods_are_anchored_at_the_local_creation_day_never_the_utc_day(
    zone: str, created_utc: datetime, anchor: date
) -> None:
    owner = User(timezone=zone)
    assert periods_of(_habit(created_utc, time(7, 0), 3, None), owner).anchor == anchor


def test_reminder_days_follow_next_reminder_at_and_pleasant_ones_their_first_time() -> None:
    owner = User(timezone="Europe/Berlin")
    created = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # 13:00 CET, the day before DST
    # 02:30 on the spring-forward night fires at 03:30 CEST (01:30 UTC) on the 29th.
    useful = _habit(created, time(2, 30), 2, datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    assert first_due(useful, owner) == date(2026, 3, 29)
    pleasant = _habit(created, time(12, 0), 2, None)  # 12:00 already passed on the 28th
    assert first_due(pleasant, owner) == date(2026, 3, 29)
    later = _habit(created, time(23, 0), 2, None)
    assert first_due(later, owner) == date(2026, 3, 28)
