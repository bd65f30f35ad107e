"""Scheduling maths: pure functions of a local time of day, an IANA zone and a periodicity.

Every instant returned is an aware UTC datetime. Two choices carry the DST rules:

* a local time that does not exist (spring forward) is read with the offset in force
  before the gap, which lands it the gap's length later: 02:30 → 03:30 in Berlin;
* a local time that occurs twice (fall back) is read with `fold=0`, the first occurrence.

Both fall out of `datetime(..., tzinfo=zone, fold=0)` (PEP 495), so `local_instant` does
nothing more than that, and every other function is built on it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on local `day` in `zone` (gap → shifted, fold → first)."""
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone).astimezone(UTC)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The owner's calendar day at `instant`."""
    return instant.astimezone(zone).date()


def first_occurrence(at: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant at or after `after` whose local wall-clock time is `at`."""
    day = local_date(after, zone) - timedelta(days=1)
    while True:
        candidate = local_instant(day, at, zone)
        if candidate >= after:
            return candidate
        day += timedelta(days=1)


def scheduled_date(occurrence: datetime, at: time, zone: ZoneInfo) -> date:
    """The local day an occurrence was scheduled for.

    Usually the local date of the instant, except when a DST gap pushed a late-evening time
    past midnight: then it is the day before.
    """
    day = local_date(occurrence, zone)
    for candidate in (day, day - timedelta(days=1)):
        if local_instant(candidate, at, zone) == occurrence:
            return candidate
    return day


def next_occurrence(
    at: time, zone: ZoneInfo, periodicity_days: int, previous: datetime
) -> datetime:
    """The occurrence `periodicity_days` local days after `previous`, at local `at`.

    Counting from the scheduled local date (never from "now") keeps reminders from drifting.
    """
    day = scheduled_date(previous, at, zone) + timedelta(days=periodicity_days)
    return local_instant(day, at, zone)


def first_occurrence_from(
    at: time, zone: ZoneInfo, periodicity_days: int, previous: datetime, not_before: datetime
) -> datetime:
    """The first occurrence of `previous`'s series (every `periodicity_days` local days) at or
    after `not_before`, and after `previous`.

    Constant time however far back `previous` lies: the missed periods are counted with one
    division, never stepped through (a habit overdue since 1900 costs what one a day late does).
    """
    start = scheduled_date(previous, at, zone)
    behind = (local_date(not_before, zone) - start).days
    periods = max(1, behind // periodicity_days)
    day = start + timedelta(days=periods * periodicity_days)
    candidate = local_instant(day, at, zone)
    while candidate < not_before:  # at most twice: the division lands a period short
        day += timedelta(days=periodicity_days)
        candidate = local_instant(day, at, zone)
    return candidate


def upcoming_occurrence(
    at: time, zone: ZoneInfo, periodicity_days: int, scheduled: datetime, now: datetime
) -> datetime:
    """The first occurrence of the series through `scheduled` that is still to come at `now`.

    `scheduled` is what the daemon stored; with no daemon running it falls behind, and a
    person shown it would read a reminder in the past. The series keeps its phase: every
    `periodicity_days` local days from the scheduled date. Constant time whatever the gap.
    """
    if scheduled >= now:
        return scheduled
    first = scheduled_date(scheduled, at, zone)
    behind = (local_date(now, zone) - first).days
    day = first + timedelta(days=max(0, behind // periodicity_days * periodicity_days))
    candidate = local_instant(day, at, zone)
    while candidate < now:
        day += timedelta(days=periodicity_days)
        candidate = local_instant(day, at, zone)
    return candidate
