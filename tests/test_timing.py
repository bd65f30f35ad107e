"""Scheduling maths (SPEC §7 "When" and "DST"): pure functions, checked against hand-computed
UTC instants for the named DST nights and by properties over many zones, times and steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habitctl.core.timing import (
    first_occurrence,
    local_date,
    local_instant,
    next_occurrence,
    scheduled_date,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
NUUK = ZoneInfo("America/Nuuk")
UTC_ZONE = ZoneInfo("UTC")  # springs forward at 23:00 → 00:00: a gap across midnight

# Zones with gaps and folds of 30 min, 1 h and 2 h, offsets in quarter hours, DST at
# midnight, southern-hemisphere DST, and none at all.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Nuuk",
    "America/Santiago",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "Asia/Kathmandu",
    "Africa/Casablanca",
    "America/Havana",
    "Pacific/Kiritimati",
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def chain(
    at: time, zone: ZoneInfo, periodicity: int, start: datetime, steps: int
) -> list[datetime]:
    occurrences = [first_occurrence(at, zone, start)]
    for _ in range(steps - 1):
        occurrences.append(next_occurrence(at, zone, periodicity, occurrences[-1]))
    return occurrences


# ---------------------------------------------------------------- named DST nights


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        # Berlin springs forward 02:00 CET → 03:00 CEST: 02:30 does not exist, fires 03:30 CEST.
        (BERLIN, date(2026, 3, 28), time(2, 30), "2026-03-28T01:30"),
        (BERLIN, date(2026, 3, 29), time(2, 30), "2026-03-29T01:30"),
        (BERLIN, date(2026, 3, 30), time(2, 30), "2026-03-30T00:30"),
        # Berlin falls back 03:00 CEST → 02:00 CET: 02:30 happens twice, the first counts.
        (BERLIN, date(2026, 10, 24), time(2, 30), "2026-10-24T00:30"),
        (BERLIN, date(2026, 10, 25), time(2, 30), "2026-10-25T00:30"),
        (BERLIN, date(2026, 10, 26), time(2, 30), "2026-10-26T01:30"),
        # Times next to the transitions are ordinary.
        (BERLIN, date(2026, 3, 29), time(1, 59), "2026-03-29T00:59"),
        (BERLIN, date(2026, 3, 29), time(3, 0), "2026-03-29T01:00"),
        (BERLIN, date(2026, 10, 25), time(3, 0), "2026-10-25T02:00"),
        # New York springs forward at 02:00 EST → 03:00 EDT on 2026-03-08.
        (NEW_YORK, date(2026, 3, 8), time(2, 30), "2026-03-08T07:30"),
        (NEW_YORK, date(2026, 3, 8), time(8, 0), "2026-03-08T12:00"),
        (NEW_YORK, date(2026, 3, 7), time(8, 0), "2026-03-07T13:00"),
        # New York falls back at 02:00 EDT → 01:00 EST on 2026-11-01: 01:30 twice.
        (NEW_YORK, date(2026, 11, 1), time(1, 30), "2026-11-01T05:30"),
        (NEW_YORK, date(2026, 11, 2), time(1, 30), "2026-11-02T06:30"),
        # Lord Howe moves by 30 minutes: back at 02:00 (+11) → 01:30 (+10:30) on 2026-04-05 …
        (LORD_HOWE, date(2026, 4, 5), time(1, 45), "2026-04-04T14:45"),
        (LORD_HOWE, date(2026, 4, 6), time(1, 45), "2026-04-05T15:15"),
        (LORD_HOWE, date(2026, 4, 5), time(2, 0), "2026-04-04T15:30"),
        # … and forward at 02:00 (+10:30) → 02:30 (+11) on 2026-10-04: 02:15 fires at 02:45.
        (LORD_HOWE, date(2026, 10, 4), time(2, 15), "2026-10-03T15:45"),
        (LORD_HOWE, date(2026, 10, 3), time(2, 15), "2026-10-02T15:45"),
        (LORD_HOWE, date(2026, 10, 5), time(2, 15), "2026-10-04T15:15"),
        # Kolkata: +05:30 all year, no DST.
        (KOLKATA, date(2026, 3, 29), time(2, 30), "2026-03-28T21:00"),
        (KOLKATA, date(2026, 10, 25), time(0, 0), "2026-10-24T18:30"),
        # Nuuk springs forward 23:00 (-02) → 00:00 (-01): 23:30 on the 28th fires 00:30 on the 29th.
        (NUUK, date(2026, 3, 28), time(23, 30), "2026-03-29T01:30"),
        (NUUK, date(2026, 3, 29), time(23, 30), "2026-03-30T00:30"),
    ],
)
def test_local_time_on_dst_nights(zone: ZoneInfo, day: date, at: time, expected: str) -> None:
    assert local_instant(day, at, zone) == utc(expected)


def test_spring_forward_gap_fires_after_the_gap_at_the_same_offset() -> None:
    fired = local_instant(date(2026, 3, 29), time(2, 30), BERLIN).astimezone(BERLIN)
    assert (fired.date(), fired.time()) == (date(2026, 3, 29), time(3, 30))


def test_fall_back_fold_fires_once_at_the_first() -> None:
    first = local_instant(date(2026, 10, 25), time(2, 30), BERLIN)
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    # Between the two 02:30s the next one is tomorrow's: the repeat never fires.
    assert first_occurrence(time(2, 30), BERLIN, first + timedelta(minutes=1)) == utc(
        "2026-10-26T01:30"
    )
    assert next_occurrence(time(2, 30), BERLIN, 1, first) == utc("2026-10-26T01:30")


@pytest.mark.parametrize(
    ("zone", "at", "start", "expected"),
    [
        (
            BERLIN,
            time(2, 30),
            "2026-03-27T12:00",
            ["2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30", "2026-03-31T00:30"],
        ),
        (
            BERLIN,
            time(2, 30),
            "2026-10-23T12:00",
            ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30", "2026-10-27T01:30"],
        ),
        (
            NEW_YORK,
            time(2, 30),
            "2026-03-06T12:00",
            ["2026-03-07T07:30", "2026-03-08T07:30", "2026-03-09T06:30"],
        ),
        (
            NEW_YORK,
            time(1, 30),
            "2026-10-31T00:00",
            ["2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"],
        ),
        (
            LORD_HOWE,
            time(1, 45),
            "2026-04-03T00:00",
            ["2026-04-03T14:45", "2026-04-04T14:45", "2026-04-05T15:15"],
        ),
        (
            LORD_HOWE,
            time(2, 15),
            "2026-10-02T00:00",
            ["2026-10-02T15:45", "2026-10-03T15:45", "2026-10-04T15:15"],
        ),
        (
            NUUK,
            time(23, 30),
            "2026-03-27T12:00",
            ["2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30", "2026-03-31T00:30"],
        ),
        (
            KOLKATA,
            time(23, 59),
            "2026-12-30T00:00",
            ["2026-12-30T18:29", "2026-12-31T18:29", "2027-01-01T18:29"],
        ),
    ],
)
def test_one_occurrence_per_local_day_across_dst(
    zone: ZoneInfo, at: time, start: str, expected: list[str]
) -> None:
    assert chain(at, zone, 1, utc(start), len(expected)) == [utc(e) for e in expected]


def test_gap_past_midnight_belongs_to_the_day_it_was_scheduled_for() -> None:
    pushed = local_instant(date(2026, 3, 28), time(23, 30), NUUK)
    assert local_date(pushed, NUUK) == date(2026, 3, 29)
    assert scheduled_date(pushed, time(23, 30), NUUK) == date(2026, 3, 28)


# ---------------------------------------------------------------- ends of months and years


@pytest.mark.parametrize(
    ("zone", "at", "periodicity", "start", "expected"),
    [
        (UTC_ZONE, time(23, 30), 1, "2026-12-31T00:00", ["2026-12-31T23:30", "2027-01-01T23:30"]),
        (BERLIN, time(0, 15), 1, "2026-12-31T12:00", ["2026-12-31T23:15", "2027-01-01T23:15"]),
        (KOLKATA, time(0, 0), 2, "2026-12-30T20:00", ["2026-12-31T18:30", "2027-01-02T18:30"]),
        (UTC_ZONE, time(8, 0), 1, "2026-02-28T07:00", ["2026-02-28T08:00", "2026-03-01T08:00"]),
        (UTC_ZONE, time(8, 0), 1, "2028-02-28T09:00", ["2028-02-29T08:00", "2028-03-01T08:00"]),
        (UTC_ZONE, time(8, 0), 7, "2026-01-28T00:00", ["2026-01-28T08:00", "2026-02-04T08:00"]),
        (UTC_ZONE, time(8, 0), 3, "2026-04-29T00:00", ["2026-04-29T08:00", "2026-05-02T08:00"]),
        (NEW_YORK, time(21, 0), 1, "2026-12-31T12:00", ["2027-01-01T02:00", "2027-01-02T02:00"]),
        (
            ZoneInfo("Pacific/Kiritimati"),
            time(9, 0),
            5,
            "2026-12-28T00:00",
            ["2026-12-28T19:00", "2027-01-02T19:00"],
        ),
    ],
)
def test_month_and_year_ends(
    zone: ZoneInfo, at: time, periodicity: int, start: str, expected: list[str]
) -> None:
    assert chain(at, zone, periodicity, utc(start), len(expected)) == [utc(e) for e in expected]


# ---------------------------------------------------------------- first occurrence


def test_first_occurrence_is_today_when_the_time_is_still_ahead() -> None:
    assert first_occurrence(time(9, 0), BERLIN, utc("2026-06-01T06:00")) == utc("2026-06-01T07:00")


def test_first_occurrence_is_tomorrow_when_the_time_has_passed() -> None:
    assert first_occurrence(time(9, 0), BERLIN, utc("2026-06-01T07:01")) == utc("2026-06-02T07:00")


def test_first_occurrence_at_exactly_the_time_is_that_instant() -> None:
    assert first_occurrence(time(9, 0), BERLIN, utc("2026-06-01T07:00")) == utc("2026-06-01T07:00")


def test_timezone_change_takes_the_first_occurrence_in_the_new_zone() -> None:
    """A user in Berlin with a 08:00 habit moves to New York at 10:00 Berlin time."""
    moved_at = utc("2026-06-01T08:00")  # 10:00 in Berlin, 04:00 in New York
    before = first_occurrence(time(8, 0), BERLIN, utc("2026-06-01T05:00"))
    assert before == utc("2026-06-01T06:00")
    after = first_occurrence(time(8, 0), NEW_YORK, moved_at)
    assert after == utc("2026-06-01T12:00")  # 08:00 in New York, the same calendar day
    assert next_occurrence(time(8, 0), NEW_YORK, 1, after) == utc("2026-06-02T12:00")
    # Moving east past the time: the next one is tomorrow, never today's twice.
    eastward = first_occurrence(time(8, 0), KOLKATA, utc("2026-06-01T03:00"))
    assert eastward == utc("2026-06-02T02:30")


# ---------------------------------------------------------------- properties

zones = st.sampled_from(ZONES).map(ZoneInfo)
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
starts = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
)


def _exists(day: date, at: time, zone: ZoneInfo) -> bool:
    naive = datetime.combine(day, at)
    back = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return back == naive


@settings(max_examples=300, deadline=None)
@given(zone=zones, at=times, periodicity=st.integers(1, 7), start=starts)
def test_occurrences_never_drift_from_the_wall_clock_time(
    zone: ZoneInfo, at: time, periodicity: int, start: datetime
) -> None:
    """Over 60 steps each occurrence is on the scheduled local day, at `at` (or the gap's end)."""
    occurrences = chain(at, zone, periodicity, start, 60)
    first_day = scheduled_date(occurrences[0], at, zone)
    for step, occurrence in enumerate(occurrences):
        day = first_day + timedelta(days=step * periodicity)
        assert occurrence.tzinfo is UTC
        assert scheduled_date(occurrence, at, zone) == day
        local = occurrence.astimezone(zone)
        if _exists(day, at, zone):
            assert (local.date(), local.time()) == (day, at)
            # In a fold, the earlier of the two instants.
            later = datetime.combine(day, at, tzinfo=zone).replace(fold=1).astimezone(UTC)
            assert occurrence <= later
        else:
            # In a gap: the same offset as before the gap, so later than `at` by the gap.
            before_gap = (occurrence - timedelta(hours=3)).astimezone(zone)
            gap = local.utcoffset() - before_gap.utcoffset()  # type: ignore[operator]
            assert gap > timedelta(0)
            assert datetime.combine(local.date(), local.time()) == datetime.combine(day, at) + gap
    assert all(a < b for a, b in pairwise(occurrences))


@settings(max_examples=300, deadline=None)
@given(zone=zones, at=times, after=starts)
def test_first_occurrence_is_the_earliest_at_or_after(
    zone: ZoneInfo, at: time, after: datetime
) -> None:
    found = first_occurrence(at, zone, after)
    assert found >= after
    assert found - after <= timedelta(days=1, hours=3)  # never a whole day skipped
    day = scheduled_date(found, at, zone)
    assert local_instant(day, at, zone) == found
    earlier = local_instant(day - timedelta(days=1), at, zone)
    assert earlier < after


@settings(max_examples=200, deadline=None)
@given(zone=zones, at=times, start=starts)
def test_next_daily_occurrence_is_the_first_after_the_previous(
    zone: ZoneInfo, at: time, start: datetime
) -> None:
    previous = first_occurrence(at, zone, start)
    following = next_occurrence(at, zone, 1, previous)
    assert following == first_occurrence(at, zone, previous + timedelta(microseconds=1))
