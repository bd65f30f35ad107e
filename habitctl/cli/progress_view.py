"""Drawing progress for people: today's list, the stats table, sparklines and the year heatmap.

Everything here renders the same dictionaries `--json` prints, so what a person sees and what
a script reads cannot drift apart. Each mark is a distinct character as well as a colour, so
the views still read under NO_COLOR and in a log file.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from habitctl.cli.output import shown
from habitctl.core.sentence import place_phrase
from habitctl.core.streaks import Mark

CELLS: dict[Mark, tuple[str, str]] = {
    # Colours only, no bold or dim: under NO_COLOR the map is then free of escape codes.
    Mark.DONE: ("█", "green"),
    Mark.COVERED: ("▒", "green"),
    Mark.SKIPPED: ("–", "blue"),
    Mark.OPEN: ("○", "yellow"),
    Mark.MISSED: ("·", "bright_black"),
    Mark.NONE: (" ", ""),
}
STATUS = {
    "done": ("✓ done", "green"),
    "due": ("○ due", "yellow"),
    "missed": ("✗ missed", "red"),
    "skipped": ("– skipped", "blue"),
}
SPARKS = "▁▂▃▄▅▆▇█"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def every(days: int) -> str:
    return "daily" if days == 1 else f"every {days} days"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def rate_window(habit: dict[str, Any], today: date, days: int) -> str:
    """Over what the rate was counted: a young habit is not "100% over the last 30 days"."""
    since = date.fromisoformat(habit["rate_since"])
    if since == today:
        return "since today"
    if since > today - timedelta(days=days - 1):
        return f"since {since:%a %d %b}"
    return f"over the last {days} days"


def keep_by(today: date, days_until_break: int | None) -> str:
    """The last day the streak can be kept, in words a person acts on."""
    if days_until_break is None:
        return "—"
    if days_until_break == 0:
        return "today"
    if days_until_break == 1:
        return "tomorrow"
    return f"{today + timedelta(days=days_until_break):%a %d %b}"


def sparkline(shares: list[float | None]) -> Text:
    """One character per week: higher blocks for a larger share of the week kept."""
    text = Text()
    for share in shares:
        if share is None:
            text.append(" ")
        else:
            text.append(SPARKS[round(share * (len(SPARKS) - 1))], style="green")
    return text


def today_table(data: dict[str, Any]) -> Group | Text:
    day = date.fromisoformat(data["date"])
    habits = data["habits"]
    title = f"Today, {day:%a %d %b %Y} ({data['timezone']})"
    if not habits:
        return Text(f"{title}: nothing due. Well done, or add a habit with `habitctl add`.")
    done = sum(1 for h in habits if h["status"] == "done")
    # The title on a line of its own: as a table title it would wrap to the table's width.
    heading = Text(f"{title} — {done} of {len(habits)} done")
    table = Table(box=None, padding=(0, 2, 0, 0))
    table.add_column("at", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("I will…", ratio=3, min_width=12)
    table.add_column("then", ratio=2, min_width=10)
    for habit in habits:
        label, style = STATUS[habit["status"]]
        then = habit["then"] or ("pleasant" if habit["is_pleasant"] else "")
        if habit["status"] not in ("done", "skipped") and habit["days_until_break"] == 0:
            then = f"{then} (last day for the streak)".strip()
        table.add_row(
            habit["time"],
            Text(label, style=style),
            f"#{habit['id']}",
            shown(f"{habit['action']} {place_phrase(habit['action'], habit['place'])}"),
            shown(then),
        )
    return Group(heading, table)


def stats_table(data: dict[str, Any]) -> Table:
    today = date.fromisoformat(data["date"])
    weeks = len(data["habits"][0]["weekly"])
    table = Table(
        title=f"Progress ({data['timezone']})",
        title_justify="left",
        caption=(
            "streak and best count occurrences; rate: since each habit began, within the "
            f"last {data['days']} days; weeks: the last {weeks}, oldest first"
        ),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    table.add_column("id", justify="right", style="bold")
    table.add_column("I will…", overflow="fold", min_width=12)
    table.add_column("every", no_wrap=True)
    table.add_column("streak", justify="right")
    table.add_column("best", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("keep by", no_wrap=True)
    table.add_column("weeks", no_wrap=True)
    for habit in data["habits"]:
        table.add_row(
            str(habit["id"]),
            shown(habit["action"]),
            "day" if habit["periodicity_days"] == 1 else f"{habit['periodicity_days']} days",
            str(habit["current_streak"]),
            str(habit["longest_streak"]),
            percent(habit["completion_rate"]),
            keep_by(today, habit["days_until_break"]),
            sparkline(habit["weekly"]),
        )
    return table


def heatmap(marks: dict[date, Mark], weeks: list[list[date]]) -> Text:
    """A contribution graph: one column per week, rows Monday to Sunday, months on top.

    One character per day and no gaps keeps a year (53 weeks) at 57 columns, inside 80.
    """
    gutter = 4
    months = [" "] * len(weeks)
    free = 0  # the first column a new month label may start at without overlapping
    for column, week in enumerate(weeks):
        first = next((d for d in week if d.day == 1), None)
        if first is not None and column >= free and column + 3 <= len(weeks):
            months[column : column + 3] = list(f"{first:%b}")
            free = column + 4
    text = Text(" " * gutter + "".join(months).rstrip() + "\n")
    for row, name in enumerate(WEEKDAYS):
        text.append(f"{name:<{gutter}}")
        for week in weeks:
            char, style = CELLS[marks.get(week[row], Mark.NONE)]
            text.append(char, style=style or None)
        text.rstrip()
        text.append("\n")
    legend = [(mark, label) for mark, label in LEGEND]
    for i, (mark, label) in enumerate(legend):
        char, style = CELLS[mark]
        text.append(char, style=style or None)
        text.append(f" {label}" + ("   " if i < len(legend) - 1 else ""))
    return text


LEGEND = (
    (Mark.DONE, "done"),
    (Mark.COVERED, "kept by its period"),
    (Mark.SKIPPED, "skipped"),
    (Mark.OPEN, "still to do"),
    (Mark.MISSED, "missed"),
)


def habit_report(data: dict[str, Any], marks: dict[date, Mark], weeks: list[list[date]]) -> Group:
    today = date.fromisoformat(data["date"])
    habit = data["habits"][0]
    head = Text()
    head.append(f"#{habit['id']} ", style="cyan")
    head.append(shown(habit["action"]))
    head.append(f" — {every(habit['periodicity_days'])} ({data['timezone']})\n")
    head.append(
        f"streak {habit['current_streak']} · best {habit['longest_streak']} · "
        f"{percent(habit['completion_rate'])} {rate_window(habit, today, data['days'])} · "
        f"keep by {keep_by(today, habit['days_until_break'])}"
    )
    return Group(head, Text(""), heatmap(marks, weeks))
