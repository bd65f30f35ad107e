"""Rendering for people: Rich tables and short lines. `--json` output lives in runtime.emit_json.

Stored text is untrusted: `shown` is the one way it reaches the screen — control characters
written out (`habitctl.core.text.printable`) and Rich markup left as the characters typed,
never interpreted. Tables wrap at spaces and drop their least useful columns when the
terminal is narrow, so a habit reads at 80 columns without a word cut in two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from habitctl.core.schemas import HabitView
from habitctl.core.sentence import sentence_of
from habitctl.core.text import printable

WIDE = 100  # from this width on, tables show every column


def console() -> Console:
    """Standard output as Rich sees it now (width from the terminal or COLUMNS)."""
    return Console(highlight=False, emoji=False)


def shown(value: str | None) -> Text:
    """Stored text as terminal text: controls escaped, markup and emoji codes literal."""
    return Text(printable(value or ""))


def local(instant: datetime | None, timezone: str) -> str:
    if instant is None:
        return "—"
    return f"{instant.astimezone(ZoneInfo(timezone)):%a %d %b %H:%M}"


def every(days: int) -> str:
    return "daily" if days == 1 else f"every {days} days"


def when(habit: HabitView) -> str:
    return (
        f"{habit.time} {'daily' if habit.periodicity_days == 1 else f'/{habit.periodicity_days}d'}"
    )


def follow_up(habit: HabitView, actions: dict[int, str]) -> str:
    if habit.is_pleasant:
        return "pleasant"
    if habit.reward:
        return f"reward: {habit.reward}"
    if habit.linked_habit_id is not None:
        action = actions.get(habit.linked_habit_id, "")
        return f"then #{habit.linked_habit_id} {action}".rstrip()
    return ""


def habits_table(
    habits: Sequence[HabitView], *, title: str, show_owner: bool = False, width: int | None = None
) -> Table:
    wide = (width or console().width) >= WIDE
    actions = {habit.id: habit.action for habit in habits}
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("id", justify="right", style="bold", no_wrap=True)
    if show_owner:
        table.add_column("owner", no_wrap=True, max_width=16, overflow="ellipsis")
    table.add_column("I will…", ratio=3, min_width=12)
    table.add_column("when", no_wrap=True)
    table.add_column("in", ratio=2, min_width=8)
    if wide:
        table.add_column("≤ s", justify="right", no_wrap=True)
    table.add_column("then", ratio=2, min_width=10)
    if wide or not show_owner:
        table.add_column("next", no_wrap=True)
    for habit in habits:
        row: list[str | Text] = [str(habit.id)]
        if show_owner:
            row.append(habit.owner)
        row += [
            shown(habit.action + (" 🌐" if habit.is_public and not show_owner else "")),
            when(habit),
            shown(habit.place),
        ]
        if wide:
            row.append(str(habit.duration_seconds))
        row.append(shown(follow_up(habit, actions)))
        if wide or not show_owner:
            row.append(_next(habit, wide))
        table.add_row(*row)
    return table


def _next(habit: HabitView, wide: bool) -> str:
    if habit.next_reminder_at is None:
        return "—"
    moment = habit.next_reminder_at.astimezone(ZoneInfo(habit.timezone))
    return f"{moment:%a %d %b %H:%M}" if wide else f"{moment:%a %d %b}"


def show_habit(habit: HabitView) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    kind = "pleasant" if habit.is_pleasant else "useful"
    rows: Iterable[tuple[str, str | Text]] = [
        ("habit", f"#{habit.id} ({kind}, {'public' if habit.is_public else 'private'})"),
        ("", shown(sentence_of(habit.action, habit.time, habit.place))),
        ("owner", habit.owner),
        ("how often", every(habit.periodicity_days)),
        ("duration", f"≤ {habit.duration_seconds} s"),
        ("then", shown(follow_up(habit, {}))),
        ("next reminder", f"{local(habit.next_reminder_at, habit.timezone)} ({habit.timezone})"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console().print(table)
