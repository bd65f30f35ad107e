"""The habit commands of SPEC §6 as people use them: forms of add, output shapes, exit codes,
and bad input that must fail with one line naming the field and change nothing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli
from tests.users import backdate, logged_in

WHEN = ("--at", "07:30", "--place", "kitchen")
EXPECTED_FORM = "I will [ACTION] at [HH:MM] in [PLACE]"
HABIT_KEYS = {
    "id": int,
    "owner": str,
    "action": str,
    "place": str,
    "time": str,
    "timezone": str,
    "periodicity_days": int,
    "duration_seconds": int,
    "is_pleasant": bool,
    "reward": (str, type(None)),
    "linked_habit_id": (int, type(None)),
    "is_public": bool,
    "next_reminder_at": (str, type(None)),
    "created_at": str,
    "updated_at": str,
}


@pytest.fixture
def alice(cli: Cli) -> Cli:
    return logged_in(cli)


def habits(cli: Cli) -> list[dict[str, Any]]:
    return cli.ok("list", "--json").json()  # type: ignore[no-any-return]


def utc_instant(text: str) -> datetime:
    """An ISO 8601 instant that must be in UTC, spelled with Z or +00:00."""
    assert text.endswith(("Z", "+00:00")), text
    instant = datetime.fromisoformat(text)
    assert instant.utcoffset() == timedelta(0)
    return instant


def assert_habit_shape(habit: dict[str, Any]) -> None:
    assert set(habit) == set(HABIT_KEYS)
    for key, kind in HABIT_KEYS.items():
        assert isinstance(habit[key], kind), (key, habit[key])
    assert re.fullmatch(r"\d\d:\d\d", habit["time"])
    utc_instant(habit["created_at"])
    utc_instant(habit["updated_at"])
    if habit["is_pleasant"]:
        assert habit["next_reminder_at"] is None
    else:
        utc_instant(habit["next_reminder_at"])


# add


def test_add_with_options_prints_the_habit_and_its_next_reminder(alice: Cli) -> None:
    before = datetime.now(UTC)
    habit = alice.add(
        "stretch", "--at", "21:05", "--place", "living room", "--every", "2",
        "--duration", "90", "--reward", "tea", "--public",
    )  # fmt: skip
    assert_habit_shape(habit)
    assert habit | {"id": 0, "next_reminder_at": "", "created_at": "", "updated_at": ""} == {
        "id": 0,
        "owner": "alice",
        "action": "stretch",
        "place": "living room",
        "time": "21:05",
        "timezone": "UTC",
        "periodicity_days": 2,
        "duration_seconds": 90,
        "is_pleasant": False,
        "reward": "tea",
        "linked_habit_id": None,
        "is_public": True,
        "next_reminder_at": "",
        "created_at": "",
        "updated_at": "",
    }
    reminder = utc_instant(habit["next_reminder_at"])
    assert (reminder.hour, reminder.minute) == (21, 5)
    assert before <= reminder <= before + timedelta(days=1)
    people = alice.ok("add", "floss", *WHEN, "--reward", "tea")
    assert "I will floss at 07:30 in kitchen" in people.stdout
    assert "#2" in people.stdout


def test_add_defaults_are_daily_120_seconds_useful_private(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    assert (habit["periodicity_days"], habit["duration_seconds"]) == (1, 120)
    assert (habit["is_pleasant"], habit["is_public"]) == (False, False)


def test_add_reads_the_books_sentence_in_english(alice: Cli) -> None:
    habit = alice.add("I will meditate at 07:30 in the bedroom", "--pleasant")
    assert (habit["action"], habit["time"], habit["place"]) == ("meditate", "07:30", "the bedroom")


def test_add_reads_the_books_sentence_in_russian(alice: Cli) -> None:
    habit = alice.add("Я буду медитировать в 07:30 в спальне", "--pleasant")
    assert (habit["action"], habit["time"], habit["place"]) == (
        "медитировать",
        "07:30",
        "в спальне",
    )


def test_explicit_options_win_over_the_sentence(alice: Cli) -> None:
    habit = alice.add(
        "I will meditate at 07:30 in the bedroom", "--at", "08:15", "--place", "garden",
        "--pleasant",
    )  # fmt: skip
    assert (habit["action"], habit["time"], habit["place"]) == ("meditate", "08:15", "garden")


def test_a_sentence_that_does_not_parse_shows_the_expected_form(alice: Cli) -> None:
    for sentence in ("I will meditate in the bedroom", "Я буду медитировать утром"):
        outcome = alice("add", sentence, "--pleasant")
        assert outcome.exit_code == ExitCode.INVALID_INPUT, sentence
        assert EXPECTED_FORM in outcome.stderr
    # The form is right but the time is not: say what is wrong with the time.
    outcome = alice("add", "I will meditate at dawn in the bedroom", "--pleasant", "--json")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert outcome.error()["field"] == "time"
    assert habits(alice) == []


def test_add_without_time_or_place_is_refused(alice: Cli) -> None:
    for missing, given in (("time", ("--place", "x")), ("place", ("--at", "07:00"))):
        outcome = alice("add", "stretch", *given, "--reward", "tea", "--json")
        assert outcome.exit_code == ExitCode.INVALID_INPUT
        assert outcome.error()["field"] == missing
        assert "required" in outcome.error()["message"]
    assert habits(alice) == []


# list, show, edit, rm


def test_list_shows_own_habits_as_a_table_and_as_json(alice: Cli) -> None:
    assert "No habits yet" in alice.ok("list").stdout
    tea = alice.add("drink tea", *WHEN, "--pleasant")
    alice.add("stretch", *WHEN, "--linked", str(tea["id"]))
    table = alice.ok("list").stdout
    assert "drink tea" in table
    assert "stretch" in table
    assert "\x1b[" not in table  # NO_COLOR and not a terminal: no escape codes
    listed = habits(alice)
    assert [habit["id"] for habit in listed] == [tea["id"], tea["id"] + 1]
    for habit in listed:
        assert_habit_shape(habit)


def test_show_prints_one_habit(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    assert alice.ok("show", str(habit["id"]), "--json").json() == habit
    text = alice.ok("show", str(habit["id"])).stdout
    assert "I will stretch at 07:30 in kitchen" in text
    assert "reward: tea" in text


def test_edit_changes_the_habit_and_recomputes_the_reminder(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    edited = alice.ok("edit", str(habit["id"]), "--at", "23:59", "--action", "yoga",
                      "--private", "--json").json()  # fmt: skip
    assert_habit_shape(edited)
    assert (edited["action"], edited["time"]) == ("yoga", "23:59")
    reminder = utc_instant(edited["next_reminder_at"])
    assert (reminder.hour, reminder.minute) == (23, 59)
    assert edited["created_at"] == habit["created_at"]
    assert utc_instant(edited["updated_at"]) > utc_instant(habit["updated_at"])
    assert alice.ok("show", str(habit["id"]), "--json").json() == edited


def test_edit_without_any_option_changes_nothing_and_says_what_to_give(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    outcome = alice("edit", str(habit["id"]))
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert "nothing to change" in outcome.stderr
    assert alice.ok("show", str(habit["id"]), "--json").json() == habit


def test_rm_with_yes_deletes_the_habit(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    alice.ok("done", str(habit["id"]))
    assert alice.ok("rm", str(habit["id"]), "--yes", "--json").json() == {"deleted": habit["id"]}
    assert habits(alice) == []
    assert alice("show", str(habit["id"])).exit_code == ExitCode.NOT_FOUND


def test_rm_without_a_terminal_and_without_yes_refuses_and_keeps_the_habit(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    outcome = alice("rm", str(habit["id"]))
    assert outcome.exit_code == ExitCode.USAGE
    assert "--yes" in outcome.stderr
    assert habits(alice) == [habit]
    as_json = alice("rm", str(habit["id"]), "--json")
    assert as_json.exit_code == ExitCode.USAGE
    assert as_json.error()["code"] == "usage"


# public


def test_public_needs_no_login_and_pages_through_public_habits(alice: Cli) -> None:
    ids = [alice.add(f"habit {n}", *WHEN, "--reward", "r", "--public")["id"] for n in range(22)]
    alice.add("secret", *WHEN, "--reward", "r")
    stranger = alice.as_user("stranger")
    first = stranger.ok("public", "--json").json()
    assert [habit["id"] for habit in first] == ids[:20]
    for habit in first:
        assert_habit_shape(habit)
        assert habit["owner"] == "alice"
    second = stranger.ok("public", "--page", "2", "--json").json()
    assert [habit["id"] for habit in second] == ids[20:]
    assert [h["id"] for h in stranger.ok("public", "--per-page", "5", "--page", "3",
                                         "--json").json()] == ids[10:15]  # fmt: skip
    assert len(stranger.ok("public", "--per-page", "100", "--json").json()) == 22
    assert stranger.ok("public", "--page", "9", "--json").json() == []
    assert "No public habits" in stranger.ok("public", "--page", "9").stdout
    assert "alice" in stranger.ok("public", "--per-page", "1").stdout


@pytest.mark.parametrize("args", [("--per-page", "101"), ("--per-page", "0"), ("--page", "0")])
def test_public_refuses_pages_out_of_range(cli: Cli, args: tuple[str, str]) -> None:
    outcome = cli("public", *args)
    assert outcome.exit_code == ExitCode.USAGE
    assert "Traceback" not in outcome.stderr


# done


def test_done_is_recorded_once_per_local_day(alice: Cli) -> None:
    habit = str(alice.add("stretch", *WHEN, "--reward", "tea")["id"])
    alice.ok("profile", "--timezone", "Pacific/Kiritimati")  # UTC+14: its day is not UTC's
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    first = alice.ok("done", habit, "--json").json()
    done = {"habit_id": int(habit), "date": today.isoformat(), "kind": "done"}
    assert first == {**done, "new": True}
    again = alice.ok("done", habit, "--json").json()
    assert again == {**done, "new": False}
    assert "already done" in alice.ok("done", habit).stdout
    backdate(alice, int(habit), (today - date(2024, 2, 28)).days)  # a habit since 2024
    past = alice.ok("done", habit, "--date", "2024-02-29", "--json").json()
    assert past == {**done, "date": "2024-02-29", "new": True}


def test_done_refuses_a_bad_or_future_date(alice: Cli) -> None:
    habit = str(alice.add("stretch", *WHEN, "--reward", "tea")["id"])
    soon = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    for day in ("tomorrow", "2024-13-01", "29.02.2024", "", "9999-12-31", soon):
        outcome = alice("done", habit, "--date", day, "--json")
        assert outcome.exit_code == ExitCode.INVALID_INPUT, day
        assert outcome.error()["field"] == "date"
    assert "future" in alice("done", habit, "--date", soon).stderr
    assert alice.ok("done", habit, "--json").json()["new"] is True  # nothing was recorded


# errors and exit codes


def test_json_errors_go_to_stderr_with_code_message_and_field(alice: Cli) -> None:
    outcome = alice("add", "stretch", "--at", "25:00", "--place", "x", "--reward", "r", "--json")
    assert outcome.stdout == ""
    assert outcome.error() == {
        "code": "invalid_input",
        "message": "time must be a 24-hour local time HH:MM, such as 07:30 or 21:05",
        "field": "time",
    }
    missing = alice("show", "404", "--json")
    assert missing.error()["code"] == "not_found"
    assert missing.error()["field"] == "id"


def test_each_exit_code(alice: Cli) -> None:
    tea = alice.add("drink tea", *WHEN, "--pleasant")["id"]
    alice.add("stretch", *WHEN, "--linked", str(tea))
    assert alice("list").exit_code == ExitCode.OK
    assert alice("add", "x", "--every", "often").exit_code == ExitCode.INVALID_INPUT
    assert alice("no-such-command").exit_code == ExitCode.USAGE
    assert alice("add", "x", "--at", "8am", "--place", "y").exit_code == ExitCode.INVALID_INPUT
    assert alice("list", HABITCTL_TOKEN="forged").exit_code == ExitCode.AUTHENTICATION
    assert alice("show", "404").exit_code == ExitCode.NOT_FOUND
    assert alice("rm", str(tea), "--yes").exit_code == ExitCode.CONFLICT
    unreachable = alice("list", HABITCTL_DATABASE_URL="postgresql+psycopg2://u@127.0.0.1:1/db")
    assert unreachable.exit_code == ExitCode.STORAGE


# bad input: one line naming the field, nothing changed, no traceback

LONG = "x" * 10_000
BAD_INPUT = [
    (("add", "stretch", "--at", "25:00", "--place", "p", "--reward", "r"), "time"),
    (("add", "stretch", "--at", "8am", "--place", "p", "--reward", "r"), "time"),
    (("add", "stretch", "--at", "7.30", "--place", "p", "--reward", "r"), "time"),
    (("add", "stretch", "--at", "", "--place", "p", "--reward", "r"), "time"),
    (("add", "", "--at", "07:00", "--place", "p", "--reward", "r"), "action"),
    (("add", "   ", "--at", "07:00", "--place", "p", "--reward", "r"), "action"),
    (("add", LONG, "--at", "07:00", "--place", "p", "--reward", "r"), "action"),
    (("add", "I will " + LONG, "--pleasant"), "time"),  # the part the sentence lacks
    (("add", "stretch", "--at", "07:00", "--place", "", "--reward", "r"), "place"),
    (("add", "stretch", "--at", "07:00", "--place", LONG, "--reward", "r"), "place"),
    (("add", "stretch", "--at", "07:00", "--place", "p", "--reward", ""), "reward"),
    (("add", "stretch", "--at", "07:00", "--place", "p", "--reward", LONG), "reward"),
    (("add", "stretch", "--at", "07:00", "--place", "p", "--linked", "abc"), "linked_habit_id"),
    (("edit", "1", "--at", "24:00"), "time"),
    (("edit", "1", "--action", ""), "action"),
    (("edit", "1", "--place", LONG), "place"),
    (("edit", "1", "--reward", "r", "--no-reward"), "reward"),
    (("edit", "1", "--linked", "1", "--no-link"), "linked_habit_id"),
]


def test_bad_input_names_the_field_and_changes_nothing(alice: Cli) -> None:
    # One user for all cases: registering costs two argon2 hashes.
    alice.add("drink tea", *WHEN, "--pleasant")
    before = habits(alice)
    for args, field in BAD_INPUT:
        outcome = alice(*args)
        case = (args[:2], field, outcome.stderr[:200])
        assert outcome.exit_code == ExitCode.INVALID_INPUT, case
        assert outcome.stderr.count("\n") == 1, case
        assert len(outcome.stderr) < 400, case
        assert field.split("_")[0] in outcome.stderr.lower(), case
        assert "Traceback" not in outcome.stderr
        assert outcome.stdout == ""
        assert alice(*args, "--json").error()["field"] == field, case
    assert habits(alice) == before


def test_unknown_and_non_numeric_ids(alice: Cli) -> None:
    habit = alice.add("stretch", *WHEN, "--reward", "tea")
    before = habits(alice)
    for command, extra, bad_id, code in _bad_ids():
        outcome = alice(command, bad_id, *extra, "--json")
        assert outcome.exit_code == code, (command, bad_id, outcome)
        assert outcome.error()["field"] == "id"
        assert len(outcome.stderr) < 400
    assert habits(alice) == before
    assert alice("show", str(habit["id"])).exit_code == ExitCode.OK


def _bad_ids() -> list[tuple[str, tuple[str, ...], str, ExitCode]]:
    extras: dict[str, tuple[str, ...]] = {"edit": ("--place", "garden"), "rm": ("--yes",)}
    return [
        (command, extras.get(command, ()), bad_id, code)
        for command in ("show", "edit", "rm", "done")
        for bad_id, code in (
            ("9999", ExitCode.NOT_FOUND),
            ("abc", ExitCode.INVALID_INPUT),
            ("0", ExitCode.INVALID_INPUT),
            ("1.5", ExitCode.INVALID_INPUT),
            ("99999999999999999999", ExitCode.INVALID_INPUT),
            (LONG, ExitCode.INVALID_INPUT),
        )
    ]
