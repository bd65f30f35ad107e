"""Rendering for people: Rich tables and short lines. `--json` output lives in runtime.emit_json."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from habitctl.core.schemas import HabitView

console = Console(highlight=False)
notices = Console(stderr=True, highlight=False)


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


def habits_table(habits: Sequence[HabitView], *, title: str, show_owner: bool = False) -> Table:
    actions = {habit.id: habit.action for habit in habits}
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("id", justify="right", style="bold")
    if show_owner:
        table.add_column("owner")
    table.add_column("I will…", overflow="fold")
    table.add_column("when", no_wrap=True)
    table.add_column("in", overflow="fold")
    table.add_column("≤ s", justify="right")
    table.add_column("then", overflow="fold")
    table.add_column("next reminder", no_wrap=True)
    for habit in habits:
        row = [str(habit.id)]
        if show_owner:
            row.append(habit.owner)
        row += [
            habit.action + (" 🌐" if habit.is_public and not show_owner else ""),
            when(habit),
            habit.place,
            str(habit.duration_seconds),
            follow_up(habit, actions),
            local(habit.next_reminder_at, habit.timezone),
        ]
        table.add_row(*row)
    return table


def show_habit(habit: HabitView) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    kind = "pleasant" if habit.is_pleasant else "useful"
    sentence = f"I will {habit.action} at {habit.time} in {habit.place}"
    rows: Iterable[tuple[str, str]] = [
        ("habit", f"#{habit.id} ({kind}, {'public' if habit.is_public else 'private'})"),
        ("", sentence),
        ("owner", habit.owner),
        ("how often", every(habit.periodicity_days)),
        ("duration", f"≤ {habit.duration_seconds} s"),
        ("then", follow_up(habit, {})),
        ("next reminder", f"{local(habit.next_reminder_at, habit.timezone)} ({habit.timezone})"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
