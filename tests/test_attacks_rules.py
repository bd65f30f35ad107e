"""Attacks on the rules (issue 11, points 4 and 6): every rule broken with raw SQL.

Bob writes his own rows with INSERT and UPDATE the way psql lets him, breaking R1–R8, the
text lengths, the time of day, the time zone and the reminder instant. PostgreSQL refuses
each; the same statement with valid values succeeds; nobody else's rows change. A link to
Alice's habit is refused in exactly the words of a link to a habit that does not exist.
"""

from __future__ import annotations

import re

import pytest

from tests.attack import World, useful_row

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

BAD_HABITS = {
    "R1 reward and link": {"linked_habit_id": "BOB_TEA"},
    "R2 duration 0": {"duration_seconds": 0},
    "R2 duration 121": {"duration_seconds": 121},
    "R3 link to a useful habit": {"reward": None, "linked_habit_id": "BOB_OWN"},
    "R4 pleasant with a reward": {"is_pleasant": True},
    "R4 pleasant with a link": {"is_pleasant": True, "reward": None, "linked_habit_id": "BOB_TEA"},
    "R5 every 8 days": {"periodicity_days": 8},
    "R5 every 0 days": {"periodicity_days": 0},
    "R6 useful with neither": {"reward": None},
    "blank action": {"action": "   "},
    "empty place": {"place": ""},
    "blank reward": {"reward": " \t "},
    "action of 256": {"action": "a" * 256},
    "control characters": {"action": "ring\x1b[2Jbell"},
    "time 24:00": {"time": "24:00"},
    "next reminder -infinity": {"next_reminder_at": "-infinity"},
    "next reminder infinity": {"next_reminder_at": "infinity"},
    "next reminder in 1900": {"next_reminder_at": "1900-01-01T00:00:00Z"},
    "next reminder in 3000": {"next_reminder_at": "3000-01-01T00:00:00Z"},
    "another member's id": {"user_id": "ALICE"},
}


def resolved(world: World, overrides: dict[str, object]) -> dict[str, object]:
    names = {"BOB_TEA": world.bob_tea, "BOB_OWN": world.own, "ALICE": world.alice_id}
    return {k: names.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}


def test_every_rule_holds_for_raw_inserts(world: World) -> None:
    before = world.others()
    bob = world.member("bob")
    try:
        count = bob.value("SELECT count(*) FROM habits")
        for name, overrides in BAD_HABITS.items():
            sql, params = useful_row(world.bob_id, resolved(world, overrides))
            bob.refused(sql, *params)
            assert bob.value("SELECT count(*) FROM habits") == count, name
        sql, params = useful_row(world.bob_id)
        assert bob.run(sql, *params) == [(1,)]  # the valid row, as its owner
    finally:
        bob.close()
    assert world.others() == before


def test_every_rule_holds_for_raw_updates(world: World) -> None:
    bob = world.member("bob")
    try:
        linked = bob.run(
            *(lambda s, p: (s + " RETURNING id", *p))(
                *useful_row(world.bob_id, reward=None, linked_habit_id=world.bob_tea)
            )
        )[0][0]
        before = world.others()
        own = world.own
        for statement in (
            f"UPDATE habits SET linked_habit_id = {world.bob_tea} WHERE id = {own}",  # R1
            f"UPDATE habits SET duration_seconds = 500 WHERE id = {own}",  # R2
            f"UPDATE habits SET reward = NULL, linked_habit_id = {own} WHERE id = {linked}",  # R3
            f"UPDATE habits SET reward = 'cake' WHERE id = {world.bob_tea}",  # R4
            f"UPDATE habits SET periodicity_days = 30 WHERE id = {own}",  # R5
            f"UPDATE habits SET reward = NULL WHERE id = {own}",  # R6
            f"UPDATE habits SET is_pleasant = false, reward = 'x' WHERE id = {world.bob_tea}",  # R8
            f"UPDATE habits SET action = '' WHERE id = {own}",
            f"UPDATE habits SET time = '24:00' WHERE id = {own}",
            f"UPDATE habits SET next_reminder_at = '-infinity' WHERE id = {own}",
            f"UPDATE habits SET user_id = {world.alice_id} WHERE id = {own}",
            f"UPDATE habits SET id = id + 1000 WHERE id = {own}",
            "UPDATE users SET timezone = 'Mars/Olympus_Mons'",
            "UPDATE users SET timezone = ''",
            f"UPDATE habits SET linked_habit_id = NULL, reward = 'x' WHERE id = {linked}; "
            f"UPDATE habits SET linked_habit_id = {world.tea}, reward = NULL WHERE id = {linked}",
        ):
            bob.refused(statement)
        # R8: the pleasant habit others link to cannot be deleted, by any route.
        assert str(linked) in bob.refused("SELECT habitctl_delete_habit(%s)", world.bob_tea)
        assert bob.value("SELECT count(*) FROM habits WHERE id = %s", world.bob_tea) == 1
        assert bob.run("UPDATE users SET timezone = 'Asia/Tokyo'") == [(1,)]
        assert bob.run(f"UPDATE habits SET place = 'porch' WHERE id = {own}") == [(1,)]
    finally:
        bob.close()
    assert world.others() == before


def normalised(message: str) -> str:
    return re.sub(r"\d+", "N", message.splitlines()[0])


def test_a_link_to_anothers_habit_reads_exactly_like_a_link_to_a_missing_one(
    world: World,
) -> None:
    bob = world.member("bob")
    try:
        errors = []
        for target in (world.tea, world.shown, 99_999_999):
            sql, params = useful_row(world.bob_id, reward=None, linked_habit_id=target)
            errors.append(normalised(bob.refused(sql, *params)))
        assert len(set(errors)) == 1, errors
        assert "alice" not in errors[0]
        assert "pleasant" not in errors[0]
    finally:
        bob.close()
    # And the CLI, whose words are the database's as well.
    missing = world.bob(
        "add", "floss", "--at", "07:00", "--place", "x", "--linked", "99999999", "--json"
    )
    alices = world.bob(
        "add", "floss", "--at", "07:00", "--place", "x", "--linked", str(world.tea), "--json"
    )
    assert missing.exit_code == alices.exit_code == 3
    assert normalised(missing.error()["message"]) == normalised(alices.error()["message"])


def test_r8_names_only_the_members_own_linking_habits(world: World) -> None:
    bob = world.member("bob")
    try:
        sql, params = useful_row(world.bob_id, reward=None, linked_habit_id=world.bob_tea)
        linking = bob.run(sql + " RETURNING id", *params)[0][0]
        message = bob.refused("SELECT habitctl_delete_habit(%s)", world.bob_tea)
        assert str(linking) in message
        assert "R8" in message
    finally:
        bob.close()
    outcome = world.bob("rm", str(world.bob_tea), "--yes", "--json")
    assert outcome.exit_code == 6
    assert str(linking) in outcome.error()["message"]


def test_completions_and_deletes_go_only_to_the_members_own_habits(world: World) -> None:
    before = world.others()
    bob = world.member("bob")
    try:
        bob.refused(
            "INSERT INTO completions (habit_id, local_date, source, created_at) "
            "VALUES (%s, current_date, 'cli', now())",
            world.secret,
        )
        for target in (world.secret, world.shown, world.tea):
            bob.refused("SELECT habitctl_delete_habit(%s)", target)
        assert bob.refused("DELETE FROM completions")
        assert bob.refused("DELETE FROM habits")
        assert bob.run(
            "INSERT INTO completions (habit_id, local_date, source, created_at) "
            "VALUES (%s, current_date, 'cli', now())",
            world.own,
        ) == [(1,)]
        assert bob.run("SELECT habitctl_delete_habit(%s)", world.own) == [(True,)]
    finally:
        bob.close()
    assert world.others() == before
