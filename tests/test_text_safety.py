"""A habit never changes another person's terminal (SPEC §6, text safety).

Control characters are refused where text comes in, with the field named; text stored by
other means (raw SQL, the SQLite file) is escaped on its way to a terminal or a pipe, Rich
markup included. `--json` output is JSON, which escapes controls itself.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Executable, update

from habitctl.cli.exitcodes import ExitCode
from habitctl.core.schemas import HabitCreate, validate
from habitctl.errors import InvalidInput
from habitctl.storage.engine import make_engine
from habitctl.storage.models import Habit, UserContact
from tests.bad_rows import plant
from tests.cli import Cli, run_habitctl
from tests.users import logged_in

C0 = [chr(c) for c in range(0x20)] + ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
MARKUP = "[link=https://evil.example]click[/link] [bold red]x[/] :skull:"
# NUL cannot be stored in PostgreSQL text at all, so the stored payload leaves it out.
STORED = "RED\x1b[31mX\x1b]8;;https://evil.example\x1b\\link\x1b]0;PWNED\x07\x1b[2J" + "".join(
    C0[1:] + C1
)
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the styling Rich itself writes on a terminal


@pytest.fixture
def alice(cli: Cli) -> Cli:
    return logged_in(cli)


def assert_inert(screen: str, *, terminal: bool = False) -> None:
    """No control byte but newline, no ESC, no C1: the screen can only show text."""
    if terminal:
        screen = SGR.sub("", screen)
    bad = sorted({f"U+{ord(c):04X}" for c in screen if (ord(c) < 0x20 and c != "\n")
                  or 0x7F <= ord(c) < 0xA0})  # fmt: skip
    assert not bad, (bad, screen)


@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", "\x07", "\x1b", "\x7f", "\x85",
                                  "\x9b", "\x9d"])  # fmt: skip
@pytest.mark.parametrize("field", ["action", "place", "reward"])
def test_every_control_character_is_refused_with_its_field(field: str, char: str) -> None:
    values: dict[str, Any] = {"action": "read", "place": "bed", "time": "07:00", "reward": "tea"}
    values[field] = f"a{char}b"
    with pytest.raises(InvalidInput) as refused:
        validate(HabitCreate, values)
    assert refused.value.field == field
    assert "control character" in refused.value.message


def test_all_c0_and_c1_controls_are_refused() -> None:
    for char in C0 + C1:
        with pytest.raises(InvalidInput):
            validate(HabitCreate, {"action": f"x{char}", "place": "p", "time": "07:00",
                                   "reward": "r"})  # fmt: skip


def test_the_cli_refuses_escape_sequences_and_changes_nothing(alice: Cli) -> None:
    attack = "\x1b[31mRED\x1b]0;PWNED\x07\x1b[2Jclear"
    outcome = alice("add", attack, "--at", "10:00", "--place", MARKUP, "--reward", "r", "--json")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert outcome.error()["field"] == "action"
    assert_inert(outcome.stderr)
    plain = alice("add", "read", "--at", "10:00", "--place", "bed", "--reward", "a\tb")
    assert plain.exit_code == ExitCode.INVALID_INPUT
    assert "reward" in plain.stderr
    assert_inert(plain.stderr)
    alice.add("read", "--at", "10:00", "--place", "bed", "--reward", "tea")
    edit = alice("edit", "1", "--place", "osc\x1b]8;;http://x\x1b\\", "--json")
    assert (edit.exit_code, edit.error()["field"]) == (ExitCode.INVALID_INPUT, "place")
    assert alice.ok("show", "1", "--json").json()["place"] == "bed"


def test_rich_markup_is_ordinary_text(alice: Cli) -> None:
    habit = alice.add("read", "--at", "10:00", "--place", MARKUP, "--reward", "[b]tea[/b]")
    assert habit["place"] == MARKUP  # not refused: brackets are text
    shown = alice("show", str(habit["id"]), COLUMNS="200").stdout
    assert MARKUP in shown
    assert "[b]tea[/b]" in shown


def _plant(cli: Cli, statement: Executable) -> None:
    """As the database's owner would with `psql` (past the database's own checks, as rows
    written before them or by another tool are), or anyone with the SQLite file."""
    engine = make_engine(cli.database_url)
    try:
        plant(engine, statement)
    finally:
        engine.dispose()


def _stored_attack(alice: Cli) -> None:
    """Alice's habits as someone with raw SQL left them: public, and full of controls."""
    tea = alice.add("tea", "--at", "07:00", "--place", "kitchen", "--pleasant", "--public")
    read = alice.add("read", "--at", "07:30", "--place", "bed", "--linked", str(tea["id"]),
                     "--public")  # fmt: skip
    walk = alice.add("walk", "--at", "08:00", "--place", "park", "--reward", "r", "--public")
    for habit_id, reward in ((tea["id"], None), (read["id"], None), (walk["id"], STORED)):
        _plant(alice, update(Habit).where(Habit.id == habit_id).values(
            action=STORED + MARKUP, place=MARKUP + STORED, reward=reward))  # fmt: skip
    _plant(alice, update(UserContact).values(
        telegram_chat_id=1, telegram_unreachable_reason=STORED))  # fmt: skip
    alice.ok("done", str(walk["id"]))


COMMANDS = [
    ("list",),
    ("show", "1"),
    ("show", "3"),
    ("public",),
    ("stats",),
    ("stats", "3"),
    ("today",),
    ("telegram", "status"),
]


def test_stored_controls_never_reach_a_pipe(alice: Cli) -> None:
    _stored_attack(alice)
    for args in COMMANDS:
        outcome = alice.ok(*args)
        assert_inert(outcome.stdout)
        assert_inert(outcome.stderr)
    # An edit is checked on the merged habit (R7): the stored controls must be fixed first.
    edit = alice("edit", "3", "--every", "2")
    assert (edit.exit_code, "action" in edit.stderr) == (ExitCode.INVALID_INPUT, True)
    assert_inert(edit.stderr)
    shown = alice("show", "3", COLUMNS="400").stdout
    assert "\\x1b[31mX" in shown  # shown as text a person can read
    assert "[link=https://evil.example]click[/link]" in shown  # markup shown, not rendered
    assert "💀" not in shown  # :skull: is text too
    anonymous = Cli(alice.database_url, alice.home, "nobody")
    assert_inert(anonymous.ok("public").stdout)


def test_json_carries_the_stored_text_escaped_by_json(alice: Cli) -> None:
    _stored_attack(alice)
    for args in (("list",), ("show", "3"), ("public",), ("stats",), ("today",)):
        outcome = alice.ok(*args, "--json")
        assert "\x1b" not in outcome.stdout
        assert isinstance(outcome.json(), list | dict)
    assert alice.ok("show", "3", "--json").json()["action"] == STORED + MARKUP


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])  # what reaches the screen is the same on both
def test_stored_controls_never_reach_a_terminal(alice: Cli) -> None:
    _stored_attack(alice)
    env = {**alice.env, "FORCE_COLOR": "1", "COLUMNS": "80", "TERM": "xterm-256color"}
    for args in COMMANDS[:7]:
        result = run_habitctl(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert_inert(result.stdout, terminal=True)
        assert_inert(result.stderr, terminal=True)
