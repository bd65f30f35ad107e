"""Streak arithmetic: pure functions of local dates, so every case is testable without a database.

A habit done every N days is judged per *period*, not per day. Periods are N local days long
and anchored at the habit's creation date in its owner's timezone:

    period k covers the local days [anchor + k·N, anchor + (k+1)·N)      (k any integer)

so `period_of(day) = (day - anchor).days // N`. Days before the anchor fall in negative
periods, which keeps back-filled completions (`habitctl done --date`, an import) meaningful.
A period is *done* when at least one completion falls on one of its days; a habit every
3 days therefore keeps its streak when it is done once in each 3-day window, whichever day.

* current streak — the number of consecutive done periods ending at the current period, or
  at the previous one while the current period is still open (today is not over, so not
  having done it yet breaks nothing); a period skipped on purpose (`habitctl skip`) is
  passed over: it neither breaks the run nor counts in it, nor in the rate;
* longest streak — the longest run of consecutive done periods up to the current one;
* completion rate over the last D days — done periods / counted periods, counting the periods
  from the one holding `today - D + 1` (but not before the first tracked period) up to the
  current one; the current period counts only once done, because it is still open;
* days until break — how many days after today the streak can still be kept: 0 means "do it
  today or the streak ends tonight"; None when there is no streak to keep.

The first tracked period is the creation period, or an earlier one holding a back-filled
completion. Everything is in local dates of the owner: the caller converts instants with
`habitctl.core.timing.local_date`, never with UTC days. A change of periodicity re-reads the
whole history with the new N (the history has no record of earlier values).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum


@dataclass(frozen=True)
class Periods:
    """The N-day periods of one habit, anchored at its creation local date."""

    anchor: date
    every: int

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("a period is at least one day long")

    def index(self, day: date) -> int:
        return (day - self.anchor).days // self.every

    def first_day(self, k: int) -> date:
        return self.anchor + timedelta(days=k * self.every)

    def last_day(self, k: int) -> date:
        return self.first_day(k + 1) - timedelta(days=1)


@dataclass(frozen=True)
class Streaks:
    current: int
    longest: int
    days_until_break: int | None
    rate: float | None
    periods_done: int
    periods_counted: int


def done_periods(periods: Periods, done: Iterable[date], today: date) -> set[int]:
    """The indices of done periods up to the current one (later completions cannot exist)."""
    current = periods.index(today)
    return {k for k in (periods.index(day) for day in done) if k <= current}


def skipped_periods(
    periods: Periods, skipped: Iterable[date], today: date, done_set: Collection[int]
) -> set[int]:
    """Periods skipped on purpose: a skip and no completion. They are passed over."""
    return done_periods(periods, skipped, today) - set(done_set)


def first_tracked(periods: Periods, done_set: Collection[int]) -> int:
    return min(0, *done_set) if done_set else 0


def streaks(
    periods: Periods,
    done: Iterable[date],
    today: date,
    days: int,
    skipped: Iterable[date] = (),
) -> Streaks:
    """Current and longest streak, rate over the last `days` days and days until break.

    A skipped period (ill, travelling) neither breaks a run nor counts in it, and is left
    out of the rate.
    """
    if days < 1:
        raise ValueError("the rate needs at least one day")
    done_set = done_periods(periods, done, today)
    skip_set = skipped_periods(periods, skipped, today, done_set)
    kept = done_set | skip_set
    current_k = periods.index(today)

    # The run ends at the current period, or the previous one while the current is open.
    top = current_k if current_k in kept else current_k - 1
    current = 0
    k = top
    while k in kept:
        current += k in done_set
        k -= 1

    longest = run = 0
    for k in sorted(kept):
        run = run if k - 1 in kept else 0
        run += k in done_set
        longest = max(longest, run)

    start = max(
        periods.index(today - timedelta(days=days - 1)), first_tracked(periods, done_set | skip_set)
    )
    last = current_k if current_k in kept else current_k - 1
    counted = sum(1 for k in range(start, last + 1) if k not in skip_set)
    done_count = sum(1 for k in done_set if start <= k <= last)

    until: int | None = None
    if current:
        keep_by = periods.last_day(top + 1)
        until = (keep_by - today).days
    return Streaks(
        current=current,
        longest=longest,
        days_until_break=until,
        rate=done_count / counted if counted else None,
        periods_done=done_count,
        periods_counted=counted,
    )


class Mark(Enum):
    """What one day of a habit's calendar shows."""

    DONE = "done"  # a completion on this very day
    COVERED = "covered"  # no completion this day, but its period is done
    SKIPPED = "skipped"  # skipped on purpose: the streak passes over it
    OPEN = "open"  # the current period, not done yet: nothing is lost so far
    MISSED = "missed"  # a past period that was never done
    NONE = "none"  # before tracking began, or in the future


def day_marks(
    periods: Periods,
    done: Collection[date],
    today: date,
    days: Iterable[date],
    skipped: Collection[date] = (),
) -> dict[date, Mark]:
    """The mark of each of `days` (a calendar's cells)."""
    done_set = done_periods(periods, done, today)
    skip_set = skipped_periods(periods, skipped, today, done_set)
    first_day = periods.first_day(first_tracked(periods, done_set | skip_set))
    current_k = periods.index(today)
    marks: dict[date, Mark] = {}
    for day in days:
        k = periods.index(day)
        if day > today or day < first_day:
            marks[day] = Mark.NONE
        elif day in done:
            marks[day] = Mark.DONE
        elif k in done_set:
            marks[day] = Mark.COVERED
        elif k in skip_set:
            marks[day] = Mark.SKIPPED
        elif k == current_k:
            marks[day] = Mark.OPEN
        else:
            marks[day] = Mark.MISSED
    return marks


def calendar_weeks(today: date, weeks: int) -> list[list[date]]:
    """`weeks` Monday-to-Sunday weeks, oldest first, the last one holding `today`."""
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    return [[monday + timedelta(days=7 * w + d) for d in range(7)] for w in range(weeks)]


def weekly_share(marks: dict[date, Mark], weeks: list[list[date]]) -> list[float | None]:
    """Per week, the share of tracked, decided days that were done or covered.

    Open, skipped and untracked days are left out, so a week still in progress (or a week
    away) is not shown as a bad one; a week with nothing to judge is None.
    """
    shares: list[float | None] = []
    for week in weeks:
        judged = [marks[d] for d in week if marks[d] in (Mark.DONE, Mark.COVERED, Mark.MISSED)]
        good = sum(1 for m in judged if m is not Mark.MISSED)
        shares.append(good / len(judged) if judged else None)
    return shares


def is_scheduled(day: date, first_due: date, every: int) -> bool:
    """Whether the habit's reminder falls on `day`, counting every N days from `first_due`."""
    return (day - first_due).days % every == 0


class Status(Enum):
    DONE = "done"
    SKIPPED = "skipped"
    DUE = "due"
    MISSED = "missed"


def today_status(
    period_done: bool,
    scheduled_today: bool,
    due_at: datetime,
    now: datetime,
    period_skipped: bool = False,
) -> Status:
    """done / due / missed for `habitctl today`.

    Done once the current period is done (today or earlier in it); missed when today is its
    day and its local time has passed without it; due otherwise. A missed habit can still be
    done today: "missed" names the reminder time, not a broken streak.
    """
    if period_done:
        return Status.DONE
    if period_skipped:
        return Status.SKIPPED
    if scheduled_today and now >= due_at:
        return Status.MISSED
    return Status.DUE
