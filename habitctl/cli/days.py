"""done, undo, skip: what a person records about a day of a habit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from habitctl.cli.options import Date, HabitId, JsonOption
from habitctl.cli.runtime import command, emit_json, parse_id

if TYPE_CHECKING:
    from datetime import date


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    from datetime import date

    from habitctl.errors import InvalidInput

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"date must be YYYY-MM-DD, such as 2026-03-01, not {value!r}", field="date"
        ) from None


def _record(
    ctx: typer.Context, habit_id: str, date: str | None, kind: str, as_json: bool
) -> dict[str, Any]:
    from habitctl.services.habits import mark_done, mark_skipped

    mark = mark_done if kind == "done" else mark_skipped
    with command(ctx, as_json) as rt:
        number = parse_id(habit_id)
        day = _parse_date(date)
        with rt.transaction() as db:
            completion, new = mark(db, rt.user(db), number, day, rt.now())
            return {
                "habit_id": number,
                "date": completion.local_date.isoformat(),
                "kind": completion.kind,
                "new": new,
            }


def done(
    ctx: typer.Context, habit_id: HabitId, date: Date = None, as_json: JsonOption = False
) -> None:
    """Record that you did a habit, once per habit and local day.

    The day can be any from the day you created the habit up to today.

    Example:

    \b
        habitctl done 2
        habitctl done 2 --date 2026-03-01    # yesterday's, recorded late
    """
    data = _record(ctx, habit_id, date, "done", as_json)
    if as_json:
        emit_json(data)
    elif data["new"]:
        typer.echo(f"Habit {data['habit_id']} done on {data['date']}. ✅")
    else:
        typer.echo(f"Habit {data['habit_id']} was already done on {data['date']}.")


def skip(
    ctx: typer.Context, habit_id: HabitId, date: Date = None, as_json: JsonOption = False
) -> None:
    """Mark a day skipped on purpose (ill, travelling): it neither breaks nor extends a streak.

    Example:

    \b
        habitctl skip 2
        habitctl skip 2 --date 2026-03-01
    """
    data = _record(ctx, habit_id, date, "skipped", as_json)
    if as_json:
        emit_json(data)
    elif data["new"]:
        typer.echo(f"Habit {data['habit_id']} skipped on {data['date']}: the streak waits for you.")
    else:
        typer.echo(f"Habit {data['habit_id']} was already skipped on {data['date']}.")


def undo(
    ctx: typer.Context, habit_id: HabitId, date: Date = None, as_json: JsonOption = False
) -> None:
    """Take back what `done` or `skip` recorded for a day (default: today).

    Example:

    \b
        habitctl undo 2
        habitctl undo 2 --date 2026-03-01
    """
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import undo_day

        number = parse_id(habit_id)
        day = _parse_date(date)
        with rt.transaction() as db:
            undone_day, kind = undo_day(db, rt.user(db), number, day, rt.now())
    if as_json:
        emit_json({"habit_id": number, "date": undone_day.isoformat(), "undone": kind})
    elif kind is None:
        typer.echo(f"Habit {number} has nothing recorded on {undone_day}: nothing to undo.")
    else:
        typer.echo(f"Took back habit {number} {kind} on {undone_day}.")


def register_commands(app: typer.Typer) -> None:
    for function in (done, undo, skip):
        app.command()(function)
