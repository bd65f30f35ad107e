"""`habitctl completion bash|zsh|fish` (gh's convention: print the script, change nothing),
and the values completed beyond commands and options: habit ids and time zones.

A completer runs on every Tab press: it answers what it can and never fails loudly; no
database, no login or a bad config simply completes nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from habitctl.cli.help import COMPLETE_VAR

PROG = "habitctl"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    It completes commands, options, your habit ids and time zones. Load it for this shell,
    or save it where your shell looks for completions.

    Example:

    \b
        source <(habitctl completion bash)
        habitctl completion zsh > "${fpath[1]}/_habitctl"
        habitctl completion fish > ~/.config/fish/completions/habitctl.fish
    """
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell))


def habit_ids(ctx: Any, incomplete: str) -> list[Any]:
    try:
        from habitctl.cli.help import CompletionItem
        from habitctl.cli.runtime import runtime
        from habitctl.core.text import printable
        from habitctl.services.habits import list_own

        rt = runtime(ctx)
        if rt.tokens.load() is None:
            return []
        with rt.transaction() as db:
            habits = list_own(db, rt.user(db))
            return [
                CompletionItem(str(h.id), help=printable(h.action)[:60])
                for h in habits
                if str(h.id).startswith(incomplete)
            ]
    except Exception:
        return []


def timezones(incomplete: str) -> list[str]:
    from zoneinfo import available_timezones

    lowered = incomplete.lower()
    return sorted(zone for zone in available_timezones() if zone.lower().startswith(lowered))


def register_commands(app: typer.Typer) -> None:
    app.command()(completion)
