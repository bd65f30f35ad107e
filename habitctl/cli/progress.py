"""today and stats — and `habitctl` alone on a terminal, which shows today."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from habitctl.cli.runtime import Runtime, command, emit_json, parse_id

if TYPE_CHECKING:
    from datetime import date

    from habitctl.core.streaks import Mark

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _today_data(rt: Runtime) -> dict[str, Any]:
    from habitctl.services import progress as service

    with rt.transaction() as db:
        user = rt.user(db)
        day, entries = service.today(db, user, rt.now())
        return {
            "date": day.isoformat(),
            "timezone": user.timezone,
            "habits": [service.today_json(entry) for entry in entries],
        }


def _print_today(data: dict[str, Any]) -> None:
    from habitctl.cli.output import console
    from habitctl.cli.progress_view import today_table

    console.print(today_table(data))


def today(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What is due today in your local day: done, due or missed, in time order."""
    with command(ctx, as_json) as rt:
        data = _today_data(rt)
    if as_json:
        emit_json(data)
    else:
        _print_today(data)


def show_today_if_logged_in(ctx: typer.Context) -> bool:
    """For a bare `habitctl` on a terminal: today's list, or False to show the help instead."""
    shown = False
    with command(ctx) as rt:
        from habitctl.errors import AuthenticationError

        if rt.tokens.load() is not None:
            try:
                data = _today_data(rt)
            except AuthenticationError:  # an expired session: the help says how to log in
                data = None
            if data is not None:
                _print_today(data)
                shown = True
    return shown


def _stats_data(
    rt: Runtime, habit_id: int | None, days: int
) -> tuple[dict[str, Any], dict[date, Mark], list[list[date]]]:
    from habitctl.core import streaks, timing
    from habitctl.core.zones import zone
    from habitctl.services import progress as service

    with rt.transaction() as db:
        user = rt.user(db)
        now = rt.now()
        items = service.progress(db, user, now, days, habit_id)
    today_ = timing.local_date(now, zone(user.timezone))
    weeks = streaks.calendar_weeks(
        today_, service.HEATMAP_WEEKS if habit_id else service.SPARKLINE_WEEKS
    )
    all_days = [day for week in weeks for day in week]
    habits, marks = [], {}
    for item in items:
        marks = streaks.day_marks(item.periods, item.done, today_, all_days)
        entry = service.progress_json(item, today_, days)
        entry["weekly"] = streaks.weekly_share(marks, weeks[-service.SPARKLINE_WEEKS :])
        if habit_id is not None:
            entry["done_dates"] = sorted(d.isoformat() for d in item.done if d >= all_days[0])
        habits.append(entry)
    data = {"date": today_.isoformat(), "timezone": user.timezone, "days": days, "habits": habits}
    return data, marks, weeks


def stats(
    ctx: typer.Context,
    habit_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="One habit, with its year heatmap.")
    ] = None,
    days: Annotated[
        int, typer.Option("--days", min=1, max=3660, help="Window of the completion rate.")
    ] = 30,
    as_json: JsonOption = False,
) -> None:
    """Streaks (in occurrences), completion rate, and a heatmap of the last year."""
    with command(ctx, as_json) as rt:
        number = parse_id(habit_id) if habit_id is not None else None
        data, marks, weeks = _stats_data(rt, number, days)
    if as_json:
        context = {key: data[key] for key in ("date", "timezone", "days")}
        emit_json({**data["habits"][0], **context} if number is not None else data)
        return
    from habitctl.cli.output import console
    from habitctl.cli.progress_view import habit_report, stats_table

    if number is not None:
        console.print(habit_report(data, marks, weeks))
    elif data["habits"]:
        console.print(stats_table(data))
    else:
        typer.echo('No habits yet: add one with `habitctl add "I will … at HH:MM in …"`.')


def register_commands(app: typer.Typer) -> None:
    app.command()(today)
    app.command()(stats)


__all__ = ["register_commands", "show_today_if_logged_in"]
