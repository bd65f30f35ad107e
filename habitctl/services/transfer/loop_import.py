"""Loop habits as habitctl habits: what Loop lacks is filled in and said, what cannot be a
habit here is refused and said, and the history comes along as completions and skips.

Loop has no place and no reward, and its reminder is optional; habitctl's rules (R5, R6)
need them, so an imported habit gets the values below, each listed in the report with the
`habitctl edit` option that changes it. A frequency rarer than once a week becomes weekly
(R5); "3 times in 7 days" becomes every 2 days (never rarer than Loop asked). Numerical
habits (an amount, not done or not) and archived ones are refused with the reason.
Only days marked by hand come in: YES_MANUAL as done, SKIP as skipped; YES_AUTO, NO and
UNKNOWN are what Loop infers, and habitctl infers its own.
"""

from __future__ import annotations

from datetime import datetime, time

from habitctl.core import timing
from habitctl.core.schemas import HabitCreate, validate
from habitctl.core.zones import zone
from habitctl.errors import InvalidInput
from habitctl.services.transfer.apply import Fill, Incoming, IncomingDay, IncomingHabit
from habitctl.services.transfer.backup import derived_uid
from habitctl.services.transfer.loop_entries import SKIP, YES_MANUAL
from habitctl.services.transfer.loop_read import LoopHabit
from habitctl.services.transfer.report import Refused

DEFAULT_TIME = time(9, 0)
DEFAULT_PLACE = "anywhere"
DEFAULT_REWARD = "tick it off"
KINDS = {YES_MANUAL: "done", SKIP: "skipped"}


def _every(habit: LoopHabit, fills: list[Fill]) -> int:
    every = max(1, habit.denominator // habit.numerator)
    if every > 7:
        fills.append(
            Fill(
                "periodicity_days",
                "7",
                f"Loop asks {habit.numerator} in {habit.denominator} days, rarer than once a "
                "week, which R5 forbids",
                "--every N",
            )
        )
        return 7
    return every


def _refusal(habit: LoopHabit) -> str | None:
    if not habit.exported:
        return (
            "its history is not in this export (Loop writes it only for the habits selected "
            "when exporting): select it in Loop and export again"
        )
    if habit.archived:
        return "archived in Loop: unarchive it there and export again to bring it here"
    if habit.numerical:
        unit = f" ({habit.unit})" if habit.unit else ""
        return f"a numeric habit in Loop{unit}: habitctl records a day done or not, not an amount"
    if habit.numerator <= 0 or habit.denominator <= 0 or habit.numerator > habit.denominator:
        return f"its frequency {habit.numerator}/{habit.denominator} is not one Loop writes"
    return None


def _spec(habit: LoopHabit, fills: list[Fill]) -> HabitCreate:
    at = habit.reminder
    if at is None:
        at = DEFAULT_TIME
        fills.append(Fill("time", f"{at:%H:%M}", "no reminder in Loop", "--at HH:MM"))
    fills.append(Fill("place", DEFAULT_PLACE, "Loop has no place", "--place PLACE"))
    fills.append(
        Fill(
            "reward",
            DEFAULT_REWARD,
            "Loop has no reward; R6 asks for one",
            "--reward TEXT (or --linked ID)",
        )
    )
    values = {
        "action": habit.name,
        "place": DEFAULT_PLACE,
        "time": at,
        "periodicity_days": _every(habit, fills),
        "reward": DEFAULT_REWARD,
    }
    return validate(HabitCreate, values)


def read_loop(
    habits: list[LoopHabit], zone_name: str, now: datetime, refused: list[Refused]
) -> Incoming:
    """The habits and hand-marked days to import; refusals are appended to `refused`."""
    tz = zone(zone_name)
    today = timing.local_date(now, tz)
    incoming, days, seen = [], [], set()
    for habit in habits:
        reason = _refusal(habit)
        fills: list[Fill] = []
        spec = None
        if reason is None:
            try:
                spec = _spec(habit, fills)
            except InvalidInput as exc:
                reason = exc.message
        if spec is None:
            refused.append(Refused(habit.name, reason or "not a habit here"))
            continue
        key = habit.key
        while key in seen:  # two Loop habits of one name in a CSV
            key += "+"
        seen.add(key)
        # A backup's uuid is kept (Loop's own importer matches on it); the CSV has none, and
        # uuids Loop's migration 24 made can run past 36 characters: those get a derived one.
        uid = key if len(key) <= 36 and not key.startswith("csv ") else derived_uid("loop", key)
        marked = {day: KINDS[value] for day, value in habit.entries.items() if value in KINDS}
        kept = {day: kind for day, kind in marked.items() if day <= today}
        first = min(kept, default=None)
        # Created on its first day, so the history is not older than the habit.
        created = timing.local_instant(first, time(0), tz) if first else now
        incoming.append(
            IncomingHabit(uid, habit.name, spec, created_at=min(created, now), fills=fills)
        )
        days += [IncomingDay(uid, day, kind, "loop") for day, kind in kept.items()]
    return Incoming(incoming, days, overwrite=False)
