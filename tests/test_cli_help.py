"""Help that reads like gh's and httpie's, and completion scripts printed on demand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing

from habitctl.cli.app import app
from habitctl.cli.help import LazyCommands
from tests.cli import Cli, run_habitctl

COMMANDS = ["register", "login", "logout", "whoami", "profile", "add", "list", "show", "edit",
            "rm", "public", "done", "undo", "skip", "today", "stats", "export", "import",
            "serve", "completion"]  # fmt: skip


def test_top_help_lists_the_exit_codes_and_whole_summaries(isolated_environment: Path) -> None:
    result = run_habitctl("--help", env={})
    assert result.returncode == 0
    text = result.stdout
    for code, meaning in ((0, "ok"), (2, "usage"), (3, "invalid input"), (4, "authentication"),
                          (5, "not found"), (6, "conflict"), (7, "storage")):  # fmt: skip
        assert re.search(rf"^\s*{code}\s+{meaning}", text, re.MULTILINE | re.IGNORECASE), code
    assert not re.search(r"\w\.\.\.", text), text  # no summary cut short
    assert "<str>" not in text  # an option's value is named, not typed
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", text, re.MULTILINE), command


@pytest.fixture
def shell(isolated_environment: Path) -> Cli:
    """The CLI with no database at all: help and completion scripts need none."""
    return Cli(f"sqlite:///{isolated_environment}/none/unused.db", isolated_environment)


def test_help_imports_no_heavy_library(isolated_environment: Path) -> None:
    probe = (
        "import sys; sys.argv=['habitctl','--help']\n"
        "from habitctl.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'pydantic', 'telegram') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-300:]


@pytest.mark.parametrize("command", ["add", "list", "show", "edit", "rm", "public", "done",
                                     "undo", "skip", "today", "stats", "completion"])  # fmt: skip
def test_each_command_has_an_example_and_clean_metavars(shell: Cli, command: str) -> None:
    text = shell.ok(command, "--help").stdout
    assert "Example" in text, text
    assert not re.search(r"\{\w+\}|\[\[|<str>|<int>|<file>", text), text


def test_add_help_shows_defaults(shell: Cli) -> None:
    text = " ".join(shell.ok("add", "--help").stdout.split())
    for expected in ("default: 1", "default: 120", "default: useful", "default: private"):
        assert expected in text, expected


@pytest.mark.parametrize("name", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(shell: Cli, name: str) -> None:
    script = shell.ok("completion", name).stdout
    assert "habitctl" in script
    assert len(script) > 100
    marker = {"bash": "complete -", "zsh": "compdef", "fish": "complete --command habitctl"}[name]
    assert marker in script


def test_completion_of_an_unknown_shell_is_a_usage_error(shell: Cli) -> None:
    outcome = shell("completion", "tcsh")
    assert outcome.exit_code == 2
    assert "bash" in outcome.stderr


def _complete(words: str, env: dict[str, str]) -> list[str]:
    """What bash completion offers after `words`, asked the way the printed script asks."""
    parts = words.split(" ")
    result = run_habitctl(
        env={
            **env,
            "_HABITCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        },
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_offers_commands_options_habit_ids_and_timezones(cli: Cli) -> None:
    from tests.users import logged_in

    logged_in(cli)
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    assert "undo" in _complete("habitctl un", cli.env)
    assert "--reward" in _complete("habitctl add x --re", cli.env)
    assert "1" in _complete("habitctl done ", cli.env)
    assert "Europe/Berlin" in _complete("habitctl profile --timezone Europe/Be", cli.env)


def _help_pages(group: Any) -> list[list[str]]:
    pages: list[list[str]] = [[]]
    for name in group.list_commands(None):
        pages.append([name])
        command = group.commands[name]
        if hasattr(command, "list_commands"):
            pages += [[name, sub] for sub in command.list_commands(None)]
    return pages


def test_the_lazy_command_tree_shows_what_typer_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """`habitctl` builds only the command it runs; every help page and usage error must be
    the one the whole tree (Typer's own build, as its test runner makes) gives."""
    runner = typer.testing.CliRunner()
    pages = _help_pages(typer.main.get_command(app))
    assert len(pages) > 25
    runs = [*[[*page, "--help"] for page in pages], ["lst"], ["db", "nosuch"]]
    want = [runner.invoke(app, args, prog_name="habitctl") for args in runs]
    monkeypatch.setattr(typer.testing, "_get_command", lambda typer_app: typer_app.lazy_group())
    for args, eager in zip(runs, want, strict=True):
        got = runner.invoke(app, args, prog_name="habitctl")
        assert (got.output, got.exit_code) == (eager.output, eager.exit_code), args


def test_a_command_builds_only_itself() -> None:
    group = app.lazy_group()
    assert isinstance(group.commands, LazyCommands)
    with pytest.raises(SystemExit) as exit_:
        group.main(["add", "--help"], prog_name="habitctl")
    assert exit_.value.code == 0
    assert group.commands.built() == {"add"}
    with pytest.raises(SystemExit):
        group.main(["--help"], prog_name="habitctl")
    assert group.commands.built() == {"add"}  # the top-level help reads the summaries alone
