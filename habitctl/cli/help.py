"""How habitctl's commands present themselves: help as gh and httpie write it, usage errors
as JSON under `--json`, and completion of the values people look up (habit ids, zones).

Every command and group is built with these classes through `HabitctlTyper`, so the rules are
said once: a usage line of `ACTION [ID]` (not `{action} [[ID]]`), no `<str>` type labels,
whole command summaries, the exit codes under `habitctl --help`. Only Typer (and the Click it
ships) is imported here: this runs on every `habitctl --help`.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import typer
import typer.main
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


@contextmanager
def usage_as_json(wanted: bool) -> Iterator[None]:
    """Parsing a command line: its usage errors become JSON ones when `--json` was given."""
    try:
        yield
    except UsageError as error:
        if wanted:
            raise JsonUsageError(error) from None
        raise


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
        _format_params(self, ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with usage_as_json("--json" in args):
            return super().parse_args(ctx, args)


def _format_params(command: Any, ctx: Any, formatter: Any) -> None:
    arguments, options = [], []
    for param in command.get_params(ctx):
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


def _metavar_of(param: Any) -> str:
    name = (param.name or "value").upper()
    return f" {name}"


class LazyCommands(MutableMapping[str, Any]):
    """A group's sub-commands, each built by Typer the first time it is looked up.

    Typer inspects every parameter of every command to build a command tree (a third of
    `habitctl --help`'s start-up): a run needs the one command it invokes, and the group's
    help only each command's summary and whether it is hidden, which are kept here.
    """

    def __init__(self) -> None:
        self._builders: dict[str, Callable[[], Any]] = {}
        self._built: dict[str, Any] = {}
        self.summaries: dict[str, tuple[str, bool]] = {}

    def add(self, name: str, build: Callable[[], Any], summary: str, hidden: bool) -> None:
        self._builders[name] = build
        self.summaries[name] = (summary, hidden)

    def built(self) -> set[str]:
        return set(self._built)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._builders[name]()  # KeyError: no such command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._builders[name] = lambda: command
        self._built[name] = command
        self.summaries[name] = (summary(command), bool(command.hidden))

    def __delitem__(self, name: str) -> None:
        del self._builders[name], self.summaries[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


class HabitctlGroup(TyperGroup):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names alone: building each is get_command's job

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        if isinstance(self.commands, LazyCommands):
            for name, (text, hidden) in self.commands.summaries.items():
                if not hidden:
                    rows.append((name, text))
        else:
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
        with usage_as_json("--json" in args):
            return super().parse_args(ctx, args)


def summary(command: Any) -> str:
    """A command's first sentence, whole: Click would cut it at 45 characters with "..."."""
    return _first_paragraph(command.short_help or command.help)


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.lazy_group()(*args, **kwargs)

    def lazy_group(self) -> HabitctlGroup:
        """This app as a Click group whose sub-commands are built when looked up (what
        `typer.main.get_command` returns, but it builds all of them first)."""
        commands, groups = self.registered_commands, self.registered_groups
        self.registered_commands, self.registered_groups = [], []
        try:  # the group itself: its callback's options, help and settings
            group = typer.main.get_group(self)
        finally:
            self.registered_commands, self.registered_groups = commands, groups
        assert isinstance(group, HabitctlGroup)
        lazy = LazyCommands()
        short, markup = self.pretty_exceptions_short, self.rich_markup_mode
        for info in commands:
            assert info.callback is not None
            text = info.short_help or (
                inspect.cleandoc(info.help) if info.help else inspect.getdoc(info.callback)
            )
            lazy.add(
                info.name or typer.main.get_command_name(info.callback.__name__),
                partial(
                    typer.main.get_command_from_info,
                    info,
                    pretty_exceptions_short=short,
                    rich_markup_mode=markup,
                ),
                _first_paragraph(text),
                bool(info.hidden),
            )
        for group_info in groups:
            solved = typer.main.solve_typer_info_defaults(group_info)
            lazy.add(
                str(solved.name),
                partial(
                    typer.main.get_group_from_info,
                    group_info,
                    pretty_exceptions_short=short,
                    rich_markup_mode=markup,
                    suggest_commands=self.suggest_commands,
                ),
                _first_paragraph(solved.short_help or solved.help),
                bool(solved.hidden),
            )
        group.commands = lazy
        return group


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
