"""export and import: a JSON backup, Loop Habit Tracker's zip, a calendar; and back in."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from habitctl.cli.runtime import command, emit_json

if TYPE_CHECKING:
    from habitctl.services.transfer import ImportReport


class ExportFormat(StrEnum):
    json = "json"
    loop = "loop"
    ics = "ics"


def write_atomically(path: Path, data: bytes) -> None:
    """The whole file or the old one, never half of it; mode 0600 from the first byte."""
    import tempfile  # with `random` and `hashlib`, not needed by `habitctl --help`

    from habitctl.errors import InvalidInput

    try:
        # mkstemp creates the file 0600 beside the target, so the rename stays on one disk.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}", field="output") from None


def export(
    ctx: typer.Context,
    format_: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="json (backup), loop (Loop Habit Tracker zip), ics."),
    ] = ExportFormat.json,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here (0600) instead of stdout."),
    ] = None,
) -> None:
    """Export your habits and history: a JSON backup, a Loop Habit Tracker zip or a calendar."""
    with command(ctx) as rt:
        from habitctl.services import transfer

        with rt.transaction() as db:
            user = rt.user(db)
            if format_ is ExportFormat.loop:
                data = transfer.export_loop(db, user, rt.now())
            elif format_ is ExportFormat.ics:
                data = transfer.export_ics(db, user, rt.now()).encode()  # keeps RFC 5545's CRLF
            else:
                data = transfer.export_json(db, user, rt.now()).encode()
        if output is None:
            if format_ is ExportFormat.loop and sys.stdout.isatty():
                from habitctl.cli.runtime import UsageProblem

                raise UsageProblem("a zip is not for a terminal: add --output FILE.zip")
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        write_atomically(output, data)
    print(f"Exported {format_.value} to {output}.", file=sys.stderr)


def _read(file: Path) -> bytes:
    """The file's bytes, refused unread when larger than an import may be."""
    from habitctl.errors import InvalidInput
    from habitctl.services.transfer import MAX_IMPORT_BYTES, too_large

    try:
        if str(file) == "-":
            data = sys.stdin.buffer.read(MAX_IMPORT_BYTES + 1)
        else:
            with file.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_IMPORT_BYTES:
                    raise too_large(size)
                data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}", field="file") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise too_large(len(data))
    return data


SOURCES = {
    "habitctl-json": "a habitctl backup",
    "loop-csv": "a Loop Habit Tracker CSV export",
    "loop-db": "a Loop Habit Tracker backup",
}


def _counted(tally: object, noun: str) -> list[str]:
    parts = []
    for state in ("added", "changed"):
        n = getattr(tally, state)
        if n:
            parts.append(f"{n} {noun}{'' if n == 1 else 's'} {state}")
    return parts


def plain(text: str) -> str:
    """Text from a file, safe for a terminal: control characters (ESC too) shown escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _print_report(report: ImportReport) -> None:
    parts = _counted(report.habits, "habit") + _counted(report.completions, "completion")
    source = SOURCES.get(report.source, report.source)
    summary = ", ".join(parts) if parts else "nothing to change, it is all here already"
    if report.dry_run:
        typer.echo(f"Dry run, nothing written. Importing {source} would give: {summary}.")
    else:
        typer.echo(f"Imported {source}: {summary}.")
    if report.timezone is not None:
        zone = report.timezone
        if zone.restored:
            typer.echo(
                f"Timezone: {zone.account} → {zone.file}, the file's, so every habit keeps "
                "its local time (`habitctl profile --timezone ZONE` sets another)."
            )
        else:
            typer.echo(
                f"Timezone: the file's is {zone.file}; yours stays {zone.account}, so habits "
                f"keep their clock times in {zone.account}."
            )
    if report.dry_run:
        for line in report.changes:
            typer.echo(f"  {plain(line)}")
    if report.filled_in:
        typer.echo("Filled in (the source has no such value; change it any time):")
        for fill in report.filled_in:
            typer.echo(
                f"  habit {fill.habit_id} {plain(fill.name)}: {fill.field} "
                f'"{plain(fill.value)}" ({fill.why}) — `{plain(fill.change)}`'
            )
    if report.refused:
        typer.echo("Refused (not imported):")
        for refusal in report.refused:
            typer.echo(f"  {plain(refusal.name)}: {plain(refusal.reason)}")


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A habitctl JSON backup, a Loop Habit Tracker .db backup or CSV .zip "
            "(`-` reads standard input).",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; write nothing.")
    ] = False,
    keep_timezone: Annotated[
        bool,
        typer.Option(
            "--keep-timezone", help="Keep your account's timezone instead of the backup's."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Restore a backup or bring in Loop Habit Tracker's data; a bad file changes nothing."""
    with command(ctx, as_json) as rt:
        from habitctl.services.transfer import import_bytes

        data = _read(file)
        with rt.transaction() as db:
            report = import_bytes(
                db, rt.user(db), data, rt.now(), dry_run=dry_run, keep_timezone=keep_timezone
            )
    if as_json:
        emit_json(report.as_dict())
    else:
        _print_report(report)


def register_commands(app: typer.Typer) -> None:
    app.command()(export)
    app.command("import")(import_)


__all__ = ["register_commands"]
