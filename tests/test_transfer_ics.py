"""`habitctl export --format ics`: a calendar a phone reminds from, at the daemon's instants.

Every occurrence over 400 days, read back with `icalendar` and `recurring-ical-events`, is
the instant the daemon would remind at (habitctl/core/timing.py), across DST in Berlin and
New York, including a time inside the spring-forward gap and one in the autumn fold.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from habitctl.core import timing
from tests.cli import Cli


def test_ics_has_location_zone_alarm_and_says_pleasant_habits_are_left_out(
    cli: Cli, tmp_path: Path
) -> None:
    cli.signup()
    cli.ok("profile", "--timezone", "Europe/Berlin")
    tea = cli.add("tea", "--at", "08:00", "--place", "kitchen", "--pleasant")
    cli.add("meditate", "--at", "07:30", "--place", "the bedroom", "--linked", str(tea["id"]))
    target = tmp_path / "habits.ics"
    cli.ok("export", "--format", "ics", "--output", str(target))
    calendar = icalendar.Calendar.from_ical(target.read_bytes())
    (event,) = calendar.walk("VEVENT")
    assert str(event["LOCATION"]) == "the bedroom"
    assert str(event["DTSTART"].params["TZID"]) == "Europe/Berlin"
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm["TRIGGER"].dt == timedelta(0)
    assert "meditate" in str(alarm["DESCRIPTION"])
    description = str(calendar["X-WR-CALDESC"]).lower()
    assert "pleasant" in description
    assert "tea" in description


def _daemon_occurrences(
    first: datetime, at: time, zone: ZoneInfo, every: int, until: datetime
) -> list[datetime]:
    occurrences, current = [], first
    while current < until:
        occurrences.append(current)
        current = timing.next_occurrence(at, zone, every, current)
    return occurrences


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "America/New_York"])
def test_every_occurrence_over_400_days_is_the_daemons(
    cli: Cli, tmp_path: Path, zone_name: str
) -> None:
    cli.signup()
    cli.ok("profile", "--timezone", zone_name)
    zone = ZoneInfo(zone_name)
    specs = [("02:30", 1), ("01:30", 1), ("07:00", 3), ("23:30", 7), ("02:15", 2)]
    for at, every in specs:
        cli.add(f"habit {at}", "--at", at, "--place", "home", "--every", str(every),
                "--reward", "tea")  # fmt: skip
    listed = {h["action"]: h for h in cli.ok("list", "--json").json()}
    target = tmp_path / "habits.ics"
    cli.ok("export", "--format", "ics", "--output", str(target))
    calendar = icalendar.Calendar.from_ical(target.read_bytes())
    start = datetime.now(UTC) - timedelta(days=1)
    until = start + timedelta(days=400)
    events = recurring_ical_events.of(calendar).between(start, until)
    by_action: dict[str, list[datetime]] = {}
    for event in events:
        action = str(event["SUMMARY"]).removeprefix("I will ").removesuffix(" in home")
        by_action.setdefault(action, []).append(event["DTSTART"].dt.astimezone(UTC))
    assert set(by_action) == set(listed)
    for action, habit in listed.items():
        at = time.fromisoformat(habit["time"])
        first = datetime.fromisoformat(habit["next_reminder_at"].replace("Z", "+00:00"))
        expected = _daemon_occurrences(first, at, zone, habit["periodicity_days"], until)
        assert sorted(by_action[action]) == expected, action
        assert len(expected) >= 400 // habit["periodicity_days"] - 1
