"""The `habitctl` command: global options and the command groups.

Only Typer and the standard library are imported at module level, so `habitctl --help` and
`--version` start fast; each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from habitctl import __version__
from habitctl.cli import (
    accounts,
    admin,
    days,
    habits,
    progress,
    serve,
    shell_completion,
    telegram,
    transfer,
)
from habitctl.cli.help import HabitctlTyper
from habitctl.cli.runtime import Runtime

# Plain Click help (HabitctlTyper sets rich_markup_mode=None): Rich-formatted help imports
# ~90 ms of modules (markdown among them) on every `--help`, which is budgeted at 1.3x of
# `import typer` (SPEC §11).
app = HabitctlTyper(
    name="habitctl",
    help="Build habits the Atomic Habits way: I will [ACTION] at [TIME] in [PLACE].",
    epilog=(
        'Start with `habitctl register`, then `habitctl add "I will meditate at 07:30 in the '
        'bedroom" --reward tea`. Every data command takes --json; `habitctl COMMAND --help` '
        "shows examples."
    ),
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"habitctl {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            envvar="HABITCTL_CONFIG",
            help="Config file (TOML).",
            dir_okay=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", metavar="URL", help="sqlite:///PATH or postgresql://… for this run."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            envvar="HABITCTL_USER",
            help="Whose stored session to use (default: the last to log in).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    ctx.obj = Runtime(config=config, database_url=database_url, debug=debug, username=user)
    ctx.call_on_close(ctx.obj.close)
    # On a terminal a logged-in person most likely wants today's list; scripts get help.
    if ctx.invoked_subcommand is None and not (
        _stdout_is_terminal() and progress.show_today_if_logged_in(ctx)
    ):
        typer.echo(ctx.get_help())


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


accounts.register_commands(app)
habits.register_commands(app)
days.register_commands(app)
progress.register_commands(app)
transfer.register_commands(app)
admin.register_commands(app)
serve.register_commands(app)
telegram.register_commands(app)
shell_completion.register_commands(app)


def main() -> None:
    # `habitctl --version` alone needs none of the command tree: building it (Typer inspects
    # every command's signature) costs about a third of the start-up. Same output, same exit.
    if sys.argv[1:] == ["--version"]:
        typer.echo(f"habitctl {__version__}")
        return
    app()
