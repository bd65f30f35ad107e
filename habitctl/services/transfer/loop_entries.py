"""Loop Habit Tracker's arithmetic for a yes/no habit: its computed entries and its score.

Followed line by line from iSoron/uhabits v2.3.1, `uhabits-core/.../models/EntryList.kt`
(`recomputeFrom`, `buildIntervals`, `snapIntervalsTogether`, `buildEntriesFromInterval`) and
`ScoreList.kt` / `Score.kt` (`recompute`, `compute`), so that an export says on each day what
Loop itself would say. Pure functions of days and values; no storage.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, timedelta

# Entry.kt
YES_MANUAL, YES_AUTO, NO, SKIP, UNKNOWN = 2, 1, 0, 3, -1
WORDS = {YES_MANUAL: "YES_MANUAL", YES_AUTO: "YES_AUTO", NO: "NO", SKIP: "SKIP", UNKNOWN: "UNKNOWN"}
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Frequency:
    numerator: int
    denominator: int


@dataclass(frozen=True)
class _Interval:
    begin: date
    center: date
    end: date


def _month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _intervals(freq: Frequency, original: list[tuple[date, int]]) -> list[_Interval]:
    """buildIntervals: each run of `numerator` repetitions covers `denominator` days."""
    done = [day for day, value in original if value == YES_MANUAL]  # newest first
    intervals = []
    for i in range(freq.numerator - 1, len(done)):
        begin, center = done[i], done[i - freq.numerator + 1]
        size = freq.denominator
        if size in (30, 31):  # "per month" follows the calendar month
            size = (
                _month_length(begin + DAY)
                if begin.day == _month_length(begin)
                else (_month_length(begin))
            )
        if (center - begin).days < size:
            intervals.append(_Interval(begin, center, begin + (size - 1) * DAY))
    # snapIntervalsTogether: slide older intervals back so streaks have no gaps.
    for i in range(1, len(intervals)):
        current, newer = intervals[i], intervals[i - 1]
        gap = (current.end - newer.begin).days
        if gap >= 0:
            shift = min((current.end - current.center).days, gap + 1) * DAY
            intervals[i] = _Interval(current.begin - shift, current.center, current.end - shift)
    return intervals


def computed_entries(freq: Frequency, original: dict[date, int]) -> dict[date, int]:
    """recomputeFrom for a yes/no habit: the known days (UNKNOWN left out), by day."""
    if not original:
        return {}
    known = sorted(original.items(), reverse=True)
    intervals = _intervals(freq, known)
    first = min([known[-1][0], *(i.begin for i in intervals)])
    last = max([known[0][0], *(i.end for i in intervals)])
    result = {first + n * DAY: UNKNOWN for n in range((last - first).days + 1)}
    for interval in intervals:
        for n in range((interval.end - interval.begin).days + 1):
            result[interval.begin + n * DAY] = YES_AUTO
    for day, value in known:
        if result[day] == UNKNOWN or value in (SKIP, YES_MANUAL):
            result[day] = value
        else:
            result[day] = YES_AUTO
    return {day: value for day, value in result.items() if value != UNKNOWN}


def scores(freq: Frequency, entries: dict[date, int], first: date, last: date) -> dict[date, float]:
    """ScoreList.recompute for a yes/no habit over first…last, from computed entries."""
    numerator, denominator = freq.numerator, freq.denominator
    frequency = numerator / denominator
    if frequency < 1.0:  # Loop doubles both to smooth irregular weekly schedules
        numerator, denominator = numerator * 2, denominator * 2
    days = [first + n * DAY for n in range((last - first).days + 1)]
    values = [entries.get(day, UNKNOWN) for day in days]  # oldest first
    multiplier = 0.5 ** (math.sqrt(frequency) / 13.0)
    rolling, previous, result = 0.0, 0.0, {}
    for i, day in enumerate(days):
        if values[i] == YES_MANUAL:
            rolling += 1.0
        if i - denominator >= 0 and values[i - denominator] == YES_MANUAL:
            rolling -= 1.0
        if values[i] != SKIP:
            completed = min(1.0, rolling / numerator)
            previous = previous * multiplier + completed * (1 - multiplier)
        result[day] = previous
    return result
