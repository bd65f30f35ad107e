"""Rules R1–R8 of SPEC §6, each allowed and refused, through the real CLI on both backends.

A refused add, edit or rm exits 3 (6 for R8), names the field and the rule, and leaves the
habits exactly as they were.
"""

from __future__ import annotations

from typing import Any

import pytest

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli
from tests.users import logged_in

WHEN = ("--at", "07:30", "--place", "kitchen")


@pytest.fixture
def alice(cli: Cli) -> Cli:
    return logged_in(cli)


def habits(cli: Cli) -> list[dict[str, Any]]:
    return cli.ok("list", "--json").json()  # type: ignore[no-any-return]


def pleasant(cli: Cli, action: str = "drink tea") -> int:
    return int(cli.add(action, *WHEN, "--pleasant")["id"])


def useful_with_reward(cli: Cli, action: str = "stretch") -> int:
    return int(cli.add(action, *WHEN, "--reward", "a square of chocolate")["id"])


def refused(cli: Cli, *args: str, code: ExitCode = ExitCode.INVALID_INPUT) -> dict[str, Any]:
    """Run a command that must be refused; the error, after checking nothing changed."""
    before = habits(cli)
    outcome = cli(*args, "--json")
    assert outcome.exit_code == code, outcome
    assert outcome.stdout == ""
    assert "Traceback" not in outcome.stderr
    assert habits(cli) == before
    return outcome.error()


# R1: a reward and a linked habit exclude each other.


def test_r1_useful_habit_may_have_a_reward_or_a_link(alice: Cli) -> None:
    tea = pleasant(alice)
    assert alice.add("stretch", *WHEN, "--reward", "tea")["reward"] == "tea"
    linked = alice.add("floss", *WHEN, "--linked", str(tea))
    assert (linked["linked_habit_id"], linked["reward"]) == (tea, None)


def test_r1_reward_and_link_together_are_refused_on_add_and_edit(alice: Cli) -> None:
    tea = pleasant(alice)
    error = refused(alice, "add", "stretch", *WHEN, "--reward", "cake", "--linked", str(tea))
    assert error["field"] == "reward"
    assert "(R1)" in error["message"]
    stretch = useful_with_reward(alice)
    error = refused(alice, "edit", str(stretch), "--linked", str(tea))
    assert "(R1)" in error["message"]


# R2: duration is 1 to 120 seconds.


def test_r2_duration_from_1_to_120_seconds_is_allowed(alice: Cli) -> None:
    assert alice.add("a", *WHEN, "--reward", "r", "--duration", "1")["duration_seconds"] == 1
    assert alice.add("b", *WHEN, "--reward", "r", "--duration", "120")["duration_seconds"] == 120
    assert alice.add("c", *WHEN, "--reward", "r")["duration_seconds"] == 120


def test_r2_duration_outside_1_to_120_is_refused(alice: Cli) -> None:
    for seconds in ("0", "121", "-5"):
        error = refused(alice, "add", "stretch", *WHEN, "--reward", "r", f"--duration={seconds}")
        assert error["field"] == "duration_seconds"
        assert "(R2)" in error["message"]


def test_r2_edit_to_a_longer_duration_is_refused(alice: Cli) -> None:
    stretch = useful_with_reward(alice)
    error = refused(alice, "edit", str(stretch), "--duration", "121")
    assert error["field"] == "duration_seconds"
    assert (
        alice.ok("edit", str(stretch), "--duration", "60", "--json").json()["duration_seconds"]
        == 60
    )


# R3: a linked habit must exist, belong to the same user, and be pleasant.


def test_r3_a_useful_habit_links_to_its_owners_pleasant_habit(alice: Cli) -> None:
    tea = pleasant(alice)
    stretch = useful_with_reward(alice)
    edited = alice.ok("edit", str(stretch), "--no-reward", "--linked", str(tea), "--json").json()
    assert (edited["linked_habit_id"], edited["reward"]) == (tea, None)


def test_r3_link_to_a_useful_missing_or_own_habit_is_refused(alice: Cli) -> None:
    stretch = useful_with_reward(alice)
    for target, words in ((stretch, "not pleasant"), (9999, "not one of your habits")):
        error = refused(alice, "add", "floss", *WHEN, "--linked", str(target))
        assert error["field"] == "linked_habit_id"
        assert words in error["message"]
        assert "(R3)" in error["message"]
    error = refused(alice, "edit", str(stretch), "--no-reward", "--linked", str(stretch))
    assert error["field"] == "linked_habit_id"
    assert "(R3)" in error["message"]


def test_r3_link_to_another_users_pleasant_habit_is_refused(alice: Cli) -> None:
    bob = logged_in(alice.as_user("bob"))
    bobs_tea = bob.add("drink tea", *WHEN, "--pleasant", "--public")["id"]
    error = refused(alice, "add", "floss", *WHEN, "--linked", str(bobs_tea))
    assert error["field"] == "linked_habit_id"
    assert "(R3)" in error["message"]


# R4: a pleasant habit has neither a reward nor a linked habit.


def test_r4_pleasant_habit_without_reward_or_link_is_allowed(alice: Cli) -> None:
    habit = alice.add("drink tea", *WHEN, "--pleasant")
    assert (habit["is_pleasant"], habit["reward"], habit["linked_habit_id"]) == (True, None, None)


def test_r4_pleasant_habit_with_reward_or_link_is_refused(alice: Cli) -> None:
    tea = pleasant(alice)
    error = refused(alice, "add", "bath", *WHEN, "--pleasant", "--reward", "cake")
    assert "(R4)" in error["message"]
    error = refused(alice, "add", "bath", *WHEN, "--pleasant", "--linked", str(tea))
    assert "(R4)" in error["message"]
    assert error["field"] == "linked_habit_id"


def test_r4_making_a_rewarded_habit_pleasant_needs_the_reward_removed(alice: Cli) -> None:
    stretch = useful_with_reward(alice)
    assert "(R4)" in refused(alice, "edit", str(stretch), "--pleasant")["message"]
    edited = alice.ok("edit", str(stretch), "--pleasant", "--no-reward", "--json").json()
    assert (edited["is_pleasant"], edited["reward"], edited["next_reminder_at"]) == (
        True,
        None,
        None,
    )


# R5: periodicity is 1 to 7 days.


def test_r5_every_1_to_7_days_is_allowed(alice: Cli) -> None:
    assert alice.add("a", *WHEN, "--reward", "r")["periodicity_days"] == 1
    assert alice.add("b", *WHEN, "--reward", "r", "--every", "7")["periodicity_days"] == 7


def test_r5_rarer_than_weekly_or_zero_is_refused(alice: Cli) -> None:
    for days in ("0", "8", "30"):
        error = refused(alice, "add", "stretch", *WHEN, "--reward", "r", f"--every={days}")
        assert error["field"] == "periodicity_days"
        assert "(R5)" in error["message"]


def test_r5_edit_to_every_8_days_is_refused(alice: Cli) -> None:
    stretch = useful_with_reward(alice)
    assert "(R5)" in refused(alice, "edit", str(stretch), "--every", "8")["message"]


# R6: a useful habit has exactly one of a reward and a linked pleasant habit.


def test_r6_useful_habit_without_reward_or_link_is_refused(alice: Cli) -> None:
    error = refused(alice, "add", "stretch", *WHEN)
    assert "(R6)" in error["message"]
    assert "--reward" in error["message"]
    assert "--linked" in error["message"]


def test_r6_removing_the_only_reward_is_refused_but_swapping_it_for_a_link_is_not(
    alice: Cli,
) -> None:
    tea = pleasant(alice)
    stretch = useful_with_reward(alice)
    assert "(R6)" in refused(alice, "edit", str(stretch), "--no-reward")["message"]
    edited = alice.ok("edit", str(stretch), "--no-reward", "--linked", str(tea), "--json").json()
    assert edited["linked_habit_id"] == tea


# R7: an edit is validated on the merged result, and a rejected edit changes nothing.


def test_r7_edit_is_validated_on_the_merged_habit(alice: Cli) -> None:
    tea = pleasant(alice)
    floss = alice.add("floss", *WHEN, "--linked", str(tea))["id"]
    # Each option is valid alone; only together with the stored link is it wrong.
    error = refused(alice, "edit", str(floss), "--reward", "cake", "--at", "09:00")
    assert "(R1)" in error["message"]
    # A pleasant habit made useful must bring its reward with it.
    lone = pleasant(alice, "read a page")
    assert "(R6)" in refused(alice, "edit", str(lone), "--useful")["message"]
    made_useful = alice.ok("edit", str(lone), "--useful", "--reward", "tea", "--json").json()
    assert made_useful["is_pleasant"] is False
    assert made_useful["next_reminder_at"] is not None


def test_r7_a_valid_edit_changes_only_what_was_given(alice: Cli) -> None:
    stretch = alice.add("stretch", *WHEN, "--reward", "tea", "--every", "3", "--public")
    edited = alice.ok("edit", str(stretch["id"]), "--place", "garden", "--json").json()
    unchanged = {k: v for k, v in stretch.items() if k not in ("place", "updated_at")}
    assert {k: v for k, v in edited.items() if k in unchanged} == unchanged
    assert edited["place"] == "garden"


# R8: a pleasant habit others link to cannot be deleted or made useful; the error names them.


def test_r8_linked_pleasant_habit_cannot_be_deleted_or_made_useful(alice: Cli) -> None:
    tea = pleasant(alice)
    floss = alice.add("floss", *WHEN, "--linked", str(tea))["id"]
    stretch = alice.add("stretch", *WHEN, "--linked", str(tea))["id"]
    for args in (("rm", str(tea), "--yes"), ("edit", str(tea), "--useful", "--reward", "cake")):
        error = refused(alice, *args, code=ExitCode.CONFLICT)
        assert "(R8)" in error["message"]
        assert f"habits {floss}, {stretch} link" in error["message"]
    plain = alice(*("rm", str(tea), "--yes"))
    assert plain.exit_code == ExitCode.CONFLICT
    assert f"{floss}, {stretch}" in plain.stderr
    assert "unlink" in plain.stderr.lower()


def test_r8_pleasant_habit_can_go_once_nothing_links_to_it(alice: Cli) -> None:
    tea = pleasant(alice)
    floss = alice.add("floss", *WHEN, "--linked", str(tea))["id"]
    alice.ok("edit", str(floss), "--no-link", "--reward", "cake")
    alice.ok("rm", str(tea), "--yes")
    assert [habit["id"] for habit in habits(alice)] == [floss]
    coffee = pleasant(alice, "coffee")
    made_useful = alice.ok("edit", str(coffee), "--useful", "--reward", "cake", "--json").json()
    assert made_useful["is_pleasant"] is False
