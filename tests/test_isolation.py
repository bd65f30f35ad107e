"""Two users on one database: neither can see or change the other's private habits, and a
public habit can be read by anyone but changed only by its owner (SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli
from tests.users import logged_in

WHEN = ("--at", "07:30", "--place", "kitchen")


class Household:
    def __init__(self, cli: Cli) -> None:
        self.alice = logged_in(cli)
        self.bob = logged_in(cli.as_user("bob"))
        self.tea = self.alice.add("drink tea", *WHEN, "--pleasant", "--public")["id"]
        self.private = self.alice.add("journal", *WHEN, "--linked", str(self.tea))["id"]
        self.public = self.alice.add("stretch", *WHEN, "--reward", "cake", "--public")["id"]
        self.bobs_private = self.bob.add("floss", *WHEN, "--reward", "mint")["id"]


@pytest.fixture
def home(cli: Cli) -> Household:
    return Household(cli)


def habits(cli: Cli) -> list[dict[str, Any]]:
    return cli.ok("list", "--json").json()  # type: ignore[no-any-return]


def missing_message(cli: Cli, command: tuple[str, ...], habit_id: int) -> str:
    """What the command says for an id nobody has, worded for `habit_id`."""
    outcome = cli(command[0], "999999", *command[1:])
    assert outcome.exit_code == ExitCode.NOT_FOUND
    return outcome.stderr.replace("999999", str(habit_id))


COMMANDS = [("show",), ("edit", "--place", "bobs house"), ("rm", "--yes"), ("done",)]


def test_anothers_private_habit_is_indistinguishable_from_a_missing_one(home: Household) -> None:
    before = habits(home.alice)
    for user, habit_id in ((home.bob, home.private), (home.alice, home.bobs_private)):
        for command in COMMANDS:
            outcome = user(command[0], str(habit_id), *command[1:])
            assert outcome.exit_code == ExitCode.NOT_FOUND, (command, outcome)
            assert outcome.stderr == missing_message(user, command, habit_id)
            as_json = user(command[0], str(habit_id), *command[1:], "--json")
            assert as_json.error()["code"] == "not_found"
    assert habits(home.alice) == before
    assert len(habits(home.bob)) == 1


def test_anothers_public_habit_can_be_shown_but_not_changed(home: Household) -> None:
    before = habits(home.alice)
    shown = home.bob.ok("show", str(home.public), "--json").json()
    assert shown == next(h for h in before if h["id"] == home.public)
    assert shown["owner"] == "alice"
    assert "alice" in home.bob.ok("show", str(home.public)).stdout
    for command in COMMANDS[1:]:
        outcome = home.bob(command[0], str(home.public), *command[1:])
        assert outcome.exit_code == ExitCode.NOT_FOUND, (command, outcome)
        assert outcome.stderr == missing_message(home.bob, command, home.public)
    # Nor can a public pleasant habit be removed or made useful by somebody else.
    assert home.bob("rm", str(home.tea), "--yes").exit_code == ExitCode.NOT_FOUND
    edit = home.bob("edit", str(home.tea), "--useful", "--reward", "x")
    assert edit.exit_code == ExitCode.NOT_FOUND
    assert habits(home.alice) == before
    assert home.alice.ok("done", str(home.public), "--json").json()["new"] is True


def test_anothers_pleasant_habit_cannot_be_linked_to(home: Household) -> None:
    for args in (
        ("add", "floss again", *WHEN, "--linked", str(home.tea)),
        ("edit", str(home.bobs_private), "--no-reward", "--linked", str(home.tea)),
    ):
        outcome = home.bob(*args, "--json")
        assert outcome.exit_code == ExitCode.INVALID_INPUT
        assert outcome.error()["field"] == "linked_habit_id"
        assert "(R3)" in outcome.error()["message"]
    assert [h["linked_habit_id"] for h in habits(home.bob)] == [None]


def test_list_shows_only_own_habits_and_public_only_public_ones(home: Household) -> None:
    assert [h["id"] for h in habits(home.alice)] == [home.tea, home.private, home.public]
    assert [h["id"] for h in habits(home.bob)] == [home.bobs_private]
    everyone = {home.tea, home.public}
    for viewer in (home.alice, home.bob, home.alice.as_user("anonymous")):
        public = viewer.ok("public", "--json").json()
        assert {h["id"] for h in public} == everyone
        assert all(h["is_public"] for h in public)
    assert "journal" not in home.bob.ok("public").stdout
    assert "floss" not in home.alice.ok("list").stdout


def test_a_users_timezone_moves_only_their_own_reminders(home: Household) -> None:
    alices = habits(home.alice)
    home.bob.ok("profile", "--timezone", "Asia/Tokyo")
    assert habits(home.alice) == alices
    assert habits(home.bob)[0]["next_reminder_at"].endswith("T22:30:00Z")
