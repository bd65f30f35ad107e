"""today, stats, export, import — and `habitctl` alone on a terminal, which shows today."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from habitctl.cli.options import JsonOption
from habitctl.cli.runtime import Runtime, command, emit_json, parse_id

if TYPE_CHECKING:
    from datetime import date

    from habitctl.core.streaks import Mark


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    ics = "ics"


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

    console().print(today_table(data))


def today(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What is due today in your local day: done, due, missed or skipped, in time order.

    Example:

    \b
        habitctl today
        habitctl today --json | jq '.habits[] | select(.status == "due") | .id'
    """
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
    from datetime import timedelta

    from habitctl.core import streaks, timing
    from habitctl.core.streaks import Mark
    from habitctl.core.zones import zone
    from habitctl.services import progress as service

    with rt.transaction() as db:
        user = rt.user(db)
        now = rt.now()
        items = service.progress(db, user, now, days, habit_id)
    today_ = timing.local_date(now, zone(user.timezone))
    # The heatmap shows the window asked for (--days), in whole weeks, at most a year's 53.
    wanted = min(service.HEATMAP_WEEKS, (today_.weekday() + days - 1) // 7 + 1)
    weeks = streaks.calendar_weeks(
        today_, wanted if habit_id else min(service.SPARKLINE_WEEKS, wanted)
    )
    first_shown = today_ - timedelta(days=days - 1)
    all_days = [day for week in weeks for day in week]
    habits, marks = [], {}
    for item in items:
        marks = streaks.day_marks(item.periods, item.done, today_, all_days, item.skipped)
        marks = {day: (mark if day >= first_shown else Mark.NONE) for day, mark in marks.items()}
        entry = service.progress_json(item, today_, days)
        entry["weekly"] = streaks.weekly_share(marks, weeks[-service.SPARKLINE_WEEKS :])
        if habit_id is not None:
            entry["done_dates"] = sorted(d.isoformat() for d in item.done if d >= first_shown)
            entry["skipped_dates"] = sorted(d.isoformat() for d in item.skipped if d >= first_shown)
        habits.append(entry)
    data = {"date": today_.isoformat(), "timezone": user.timezone, "days": days, "habits": habits}
    return data, marks, weeks


def stats(
    ctx: typer.Context,
    habit_id: Annotated[
        str | None,
        typer.Argument(metavar="[ID]", help="One habit, with its calendar heatmap."),
    ] = None,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            metavar="N",
            min=1,
            max=3660,
            help="The last N days: the heatmap, and the window of the rate.",
        ),
    ] = 365,
    as_json: JsonOption = False,
) -> None:
    """Streaks (in occurrences), completion rate since each habit began, and a heatmap.

    Skipped days (`habitctl skip`) neither break nor extend a streak and leave the rate
    alone.

    Example:

    \b
        habitctl stats
        habitctl stats 2 --days 90
    """
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
        console().print(habit_report(data, marks, weeks))
    elif data["habits"]:
        console().print(stats_table(data))
    else:
        typer.echo('No habits yet: add one with `habitctl add "I will … at HH:MM in …"`.')


def export(
    ctx: typer.Context,
    format_: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json (backup), csv (Loop), ics.")
    ] = ExportFormat.json,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Export your habits and history: a JSON backup, a Loop-style CSV or a calendar."""
    with command(ctx) as rt:
        from habitctl.errors import InvalidInput
        from habitctl.services import transfer

        writers = {
            ExportFormat.json: transfer.export_json,
            ExportFormat.csv: transfer.export_csv,
            ExportFormat.ics: transfer.export_ics,
        }
        with rt.transaction() as db:
            text = writers[format_](db, rt.user(db), rt.now())
        if output is None:
            sys.stdout.write(text)
            return
        try:
            # newline="" keeps the CRLF line ends iCalendar requires.
            output.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput(
                f"cannot write {output}: {exc.strerror or exc}", field="output"
            ) from None
    print(f"Exported {format_.value} to {output}.", file=sys.stderr)


def _read(file: Path) -> str:
    from habitctl.errors import InvalidInput

    try:
        if str(file) == "-":
            return sys.stdin.read()
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidInput(f"cannot read {file}: {reason or exc}", field="file") from None


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A JSON export (`-` reads standard input).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Restore a JSON export into your account; a bad file changes nothing."""
    with command(ctx, as_json) as rt:
        from habitctl.services.transfer import import_document

        text = _read(file)
        with rt.transaction() as db:
            result = import_document(db, rt.user(db), text, rt.now())
    if as_json:
        emit_json(
            {
                "habits": result.habits,
                "completions": result.completions,
                "ids": {str(old): new for old, new in result.ids.items()},
            }
        )
        return
    mapping = ", ".join(f"{old}→{new}" for old, new in result.ids.items())
    typer.echo(
        f"Imported {result.habits} habits and {result.completions} completions"
        + (f" (ids {mapping})." if mapping else ".")
    )


def register_commands(app: typer.Typer) -> None:
    app.command()(today)
    app.command()(stats)
    app.command()(export)
    app.command("import")(import_)


__all__ = ["register_commands", "show_today_if_logged_in"]
