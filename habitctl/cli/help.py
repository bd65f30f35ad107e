"""How habitctl's commands present themselves: help as gh and httpie write it, usage errors
as JSON under `--json`, and completion of the values people look up (habit ids, zones).

Every command and group is built with these classes through `HabitctlTyper`, so the rules are
said once: a usage line of `ACTION [ID]` (not `{action} [[ID]]`), no `<str>` type labels,
whole command summaries, the exit codes under `habitctl --help`. Only Typer (and the Click it
ships) is imported here: this runs on every `habitctl --help`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType

try:  # Typer 0.2x ships its own copy of Click; older ones use the library.
    from typer._click.exceptions import UsageError
    from typer._click.shell_completion import CompletionItem
except ImportError:  # pragma: no cover
    from click import UsageError  # type: ignore[assignment]
    from click.shell_completion import CompletionItem  # type: ignore[assignment]

from habitctl.cli.exitcodes import MEANINGS

__all__ = ["COMPLETE_VAR", "CompletionItem", "HabitctlTyper", "UsageError"]

_TYPE_LABEL = re.compile(r" <[^>]*>")
COMPLETE_VAR = "_HABITCTL_COMPLETE"
Completer = Callable[[Any, Any, str], list[Any]]


class JsonUsageError(UsageError):
    """A usage error (exit 2) for someone who asked for `--json`: JSON on standard error."""

    def __init__(self, error: UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)
        param = getattr(error, "param", None)
        self.field = getattr(param, "name", None)

    def show(self, file: Any = None) -> None:
        error = {"code": "usage", "message": self.format_message(), "field": self.field}
        print(json.dumps({"error": error}), file=sys.stderr)


def _argument_name(param: Any) -> str:
    return str(param.metavar or (param.name or "").upper())


class HabitctlCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            completer = COMPLETERS.get(param.name or "")
            if completer is not None and param._custom_shell_complete is None:
                param._custom_shell_complete = completer

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required or name.startswith("[") else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), getattr(param, "help", None) or ""))
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                options.append((_TYPE_LABEL.sub(_metavar_of(param), record[0]), record[1]))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        wants_json = "--json" in args
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            if wants_json:
                raise JsonUsageError(error) from None
            raise


def _metavar_of(param: Any) -> str:
    name = (param.name or "value").upper()
    return f" {name}"


class HabitctlGroup(TyperGroup):
    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _main_shell_completion(
        self, ctx_args: Any, prog_name: str, complete_var: Any = None
    ) -> None:
        if os.environ.get(COMPLETE_VAR):  # a Tab press: answer in the form Typer's scripts read
            from typer._completion_classes import completion_init

            completion_init()
        super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        if ctx.parent is None:  # the exit codes belong under `habitctl --help` itself
            with formatter.section("Exit codes"):
                formatter.write_dl([(str(code), meaning) for code, meaning in MEANINGS.items()])

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        wants_json = "--json" in args
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            if wants_json:
                raise JsonUsageError(error) from None
            raise


def summary(command: Any) -> str:
    """A command's first sentence, whole: Click would cut it at 45 characters with "..."."""
    text = command.short_help or (command.help or "").strip().split("\n\n")[0]
    return " ".join(text.split())


class HabitctlTyper(typer.Typer):
    """A Typer whose commands and groups are the classes above."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", HabitctlGroup)
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("add_completion", False)  # `habitctl completion SHELL` instead
        super().__init__(**kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", HabitctlCommand)
        return super().command(*args, **kwargs)


def complete_habit_ids(ctx: Any, _param: Any, incomplete: str) -> list[Any]:
    """The logged-in user's habit ids, each with its action, for an `ID` argument."""
    from habitctl.cli.shell_completion import habit_ids

    return habit_ids(ctx, incomplete)


def complete_timezones(_ctx: Any, _param: Any, incomplete: str) -> list[Any]:
    from habitctl.cli.shell_completion import timezones

    return timezones(incomplete)


# Parameters completed by name, in every command that has one.
COMPLETERS: dict[str, Completer] = {
    "habit_id": complete_habit_ids,
    "linked": complete_habit_ids,
    "timezone": complete_timezones,
}
