"""`habitctl export --format loop`: a zip in the layout Loop Habit Tracker writes today.

As `HabitsCSVExporter.kt` (v2.3.1) does: `Habits.csv` (`HabitList.writeCSV`), per habit
`NNN Name/Scores.csv` and `NNN Name/Checkmarks.csv` (known days, newest first, `Entry`
words), then the root `Scores.csv` and `Checkmarks.csv` (every day from the oldest entry to
today, newest first, each line ending in a comma, names unquoted). A habit every N days is
Loop's frequency 1/N; a day done is YES_MANUAL, a day skipped SKIP, any other day since the
habit was created NO, and the YES_AUTO days and scores follow Loop's own arithmetic.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl.core import timing
from habitctl.core.zones import zone
from habitctl.services.habits import list_own
from habitctl.services.transfer.loop_entries import (
    DAY,
    NO,
    SKIP,
    UNKNOWN,
    WORDS,
    YES_MANUAL,
    Frequency,
    computed_entries,
    scores,
)
from habitctl.storage.models import Completion, Habit, User

HABITS_HEADER = [
    "Position", "Name", "Type", "Question", "Description", "FrequencyNumerator",
    "FrequencyDenominator", "Color", "Unit", "Target Type", "Target Value", "Archived?",
]  # fmt: skip
COLOR = "#FF8F00"  # Loop's amber, the first colour a new habit gets
MARKS = {"done": YES_MANUAL, "skipped": SKIP}


def _csv(rows: list[list[str]]) -> str:
    # opencsv's CSVWriter as Loop calls it: quotes only where needed, "\n" line ends.
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _folder(position: int, name: str) -> str:
    """HabitsCSVExporter.sanitizeFilename, then "%03d %s" trimmed."""
    sane = re.sub(r"[^ a-zA-Z0-9._-]+", "", name)[:100]
    return f"{position:03d} {sane}".strip()


def _days(newest: date, oldest: date) -> list[date]:
    return [newest - n * DAY for n in range((newest - oldest).days + 1)]


def export_loop(db: Session, owner: User, now: datetime) -> bytes:
    tz = zone(owner.timezone)
    today = timing.local_date(now, tz)
    habits = list_own(db, owner)
    actions = {habit.id: habit.action for habit in habits}
    marks: dict[int, dict[date, int]] = defaultdict(dict)
    rows = db.execute(
        select(Completion.habit_id, Completion.local_date, Completion.kind)
        .join(Habit, Habit.id == Completion.habit_id)
        .where(Habit.user_id == owner.id)
    )
    for habit_id, day, kind in rows:
        marks[habit_id][day] = MARKS.get(kind, YES_MANUAL)
    files: list[tuple[str, str]] = []
    table = [HABITS_HEADER]
    entries, frequencies = [], []
    for position, habit in enumerate(habits, start=1):
        frequency = Frequency(1, habit.periodicity_days)
        created = min(timing.local_date(habit.created_at, tz), today)
        original = dict.fromkeys(_days(today, created), NO) | marks[habit.id]
        computed = computed_entries(frequency, original)
        entries.append(computed)
        frequencies.append(frequency)
        if habit.is_pleasant:
            description = "A pleasant habit"
        else:
            description = f"Then: {habit.reward or actions.get(habit.linked_habit_id or 0, '')}"
        table.append([
            f"{position:03d}", habit.action, "YES_NO",
            f"I will {habit.action} at {habit.time:%H:%M} in {habit.place}", description, "1",
            str(habit.periodicity_days), COLOR, "", "", "", "false",
        ])  # fmt: skip
        folder = _folder(position, habit.action)
        oldest = min(computed, default=today)
        score = scores(frequency, computed, oldest, today)
        files.append((f"{folder}/Scores.csv", _csv(
            [["Date", "Score"], *([d.isoformat(), f"{score[d]:.4f}"] for d in _days(today, oldest))]
        )))  # fmt: skip
        known = sorted(computed.items(), reverse=True)
        files.append((f"{folder}/Checkmarks.csv", _csv(
            [["Date", "Value", "Notes"], *([d.isoformat(), WORDS[v], ""] for d, v in known)]
        )))  # fmt: skip
    header = "Date," + "".join(f"{habit.action}," for habit in habits) + "\n"
    checks, score_lines = [header], [header]
    oldest_all = min((min(e) for e in entries if e), default=None)
    if oldest_all is not None:
        all_scores = [
            scores(f, e, oldest_all, today) for f, e in zip(frequencies, entries, strict=True)
        ]
        for day in _days(today, oldest_all):
            checks.append(
                day.isoformat()
                + ","
                + "".join(f"{WORDS[e.get(day, UNKNOWN)]}," for e in entries)
                + "\n"
            )
            score_lines.append(
                day.isoformat() + "," + "".join(f"{s[day]:.4f}," for s in all_scores) + "\n"
            )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("Habits.csv", _csv(table))
        for name, text in files:
            out.writestr(name, text)
        out.writestr("Scores.csv", "".join(score_lines))
        out.writestr("Checkmarks.csv", "".join(checks))
    return archive.getvalue()
