"""The useful habits as an iCalendar file: one recurring event per habit, with its place, the
owner's zone and an alarm at the reminder time, so a phone reminds as the daemon would.

An event starts at the habit's next reminder, at its wall-clock time in the owner's `TZID`,
and repeats every N days (`RRULE:FREQ=DAILY;INTERVAL=N`). RFC 5545 reads a local time that
does not exist with the offset before the gap, and one that occurs twice as the first: the
same choices as `habitctl.core.timing`, so every occurrence is the daemon's instant.
Pleasant habits have no reminders; the calendar's description names them instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from habitctl import __version__
from habitctl.core.zones import zone
from habitctl.services.habits import list_own
from habitctl.services.progress import first_due
from habitctl.storage.models import User


def export_ics(db: Session, owner: User, now: datetime) -> str:
    from icalendar import Alarm, Calendar, Event

    tz = zone(owner.timezone)
    habits = list_own(db, owner)
    actions = {habit.id: habit.action for habit in habits}
    pleasant = [habit.action for habit in habits if habit.is_pleasant]
    calendar = Calendar()
    calendar.add("prodid", f"-//habitctl//habitctl {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{owner.username}'s habits")
    calendar.add("x-wr-timezone", owner.timezone)
    description = f"{owner.username}'s useful habits, each at its time in {owner.timezone}."
    if pleasant:
        description += (
            f" Pleasant habits have no reminders and are not events here: {', '.join(pleasant)}."
        )
    calendar.add("x-wr-caldesc", description)
    for habit in habits:
        if habit.is_pleasant:
            continue
        sentence = f"I will {habit.action} in {habit.place}"
        event = Event()
        event.add("uid", f"habit-{habit.uid or habit.id}.{owner.username}@habitctl")
        event.add("dtstamp", now)
        # Wall-clock time in the owner's zone: calendar apps then keep it across DST changes.
        event.add("dtstart", datetime.combine(first_due(habit, owner), habit.time, tzinfo=tz))
        event.add("duration", timedelta(seconds=habit.duration_seconds))
        event.add("rrule", {"FREQ": "DAILY", "INTERVAL": habit.periodicity_days})
        event.add("summary", sentence)
        event.add("location", habit.place)
        then = habit.reward or actions.get(habit.linked_habit_id or 0)
        if then:
            event.add("description", f"Then: {then}")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{sentence} (≤ {habit.duration_seconds} s)")
        alarm.add("trigger", timedelta(0))  # at the start: the reminder time itself
        event.add_component(alarm)
        calendar.add_component(event)
    calendar.add_missing_timezones()
    text: bytes = calendar.to_ical()
    return text.decode()
