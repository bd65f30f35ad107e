"""Mistakes that can be undone: `done` within the habit's life, `undo`, and `skip` (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from habitctl.cli.exitcodes import ExitCode
from habitctl.core import streaks
from tests.cli import Cli
from tests.users import backdate, logged_in

D = timedelta(days=1)


@pytest.fixture
def alice(cli: Cli) -> Cli:
    logged_in(cli)
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    return cli


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def ago(days: int) -> str:
    return (datetime.now(UTC).date() - days * D).isoformat()


def history(cli: Cli) -> list[str]:
    return cli.ok("stats", "1", "--json").json()["done_dates"]  # type: ignore[no-any-return]


def test_done_before_the_habit_existed_is_refused(alice: Cli) -> None:
    outcome = alice("done", "1", "--date", "1999-01-01", "--json")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert outcome.error()["field"] == "date"
    assert today() in outcome.error()["message"]  # the first day it can be recorded
    assert alice("done", "1", "--date", ago(1)).exit_code == ExitCode.INVALID_INPUT
    assert history(alice) == []
    backdate(alice, 1, 3)
    alice.ok("done", "1", "--date", ago(3))
    assert history(alice) == [ago(3)]


def test_done_in_the_future_is_refused(alice: Cli) -> None:
    tomorrow = (datetime.now(UTC).date() + D).isoformat()
    outcome = alice("done", "1", "--date", tomorrow, "--json")
    assert (outcome.exit_code, outcome.error()["field"]) == (ExitCode.INVALID_INPUT, "date")


def test_undo_takes_a_completion_back(alice: Cli) -> None:
    assert alice.ok("done", "1", "--json").json() == {
        "habit_id": 1, "date": today(), "kind": "done", "new": True,
    }  # fmt: skip
    assert alice.ok("undo", "1", "--json").json() == {
        "habit_id": 1, "date": today(), "undone": "done",
    }  # fmt: skip
    assert history(alice) == []
    again = alice.ok("undo", "1")
    assert "nothing recorded" in again.stdout
    assert alice.ok("undo", "1", "--json").json()["undone"] is None
    assert alice("undo", "9").exit_code == ExitCode.NOT_FOUND


def test_undo_with_a_date(alice: Cli) -> None:
    backdate(alice, 1, 5)
    alice.ok("done", "1", "--date", ago(2))
    alice.ok("done", "1")
    screen = alice.ok("undo", "1", "--date", ago(2)).stdout
    assert ago(2) in screen
    assert history(alice) == [today()]


def test_skip_is_recorded_once_and_undone_like_a_completion(alice: Cli) -> None:
    assert alice.ok("skip", "1", "--json").json() == {
        "habit_id": 1, "date": today(), "kind": "skipped", "new": True,
    }  # fmt: skip
    assert alice.ok("skip", "1", "--json").json()["new"] is False
    assert alice.ok("today", "--json").json()["habits"][0]["status"] == "skipped"
    assert "skipped" in alice.ok("today").stdout
    assert alice.ok("undo", "1", "--json").json()["undone"] == "skipped"
    assert alice("skip", "1", "--date", "1999-01-01").exit_code == ExitCode.INVALID_INPUT


def test_done_turns_a_skipped_day_into_a_done_one_but_skip_never_erases_done(alice: Cli) -> None:
    alice.ok("skip", "1")
    assert alice.ok("done", "1", "--json").json()["new"] is True
    assert history(alice) == [today()]
    refused = alice("skip", "1", "--json")
    assert refused.exit_code == ExitCode.CONFLICT
    assert "habitctl undo 1" in refused.error()["message"]


def test_a_skipped_day_neither_breaks_nor_extends_a_streak(alice: Cli) -> None:
    backdate(alice, 1, 5)
    for n in (5, 4, 2, 1):
        alice.ok("done", "1", "--date", ago(n))
    alice.ok("skip", "1", "--date", ago(3))
    stats = alice.ok("stats", "--json").json()["habits"][0]
    assert (stats["current_streak"], stats["longest_streak"]) == (4, 4)
    assert (stats["periods_done"], stats["periods_counted"]) == (4, 4)  # the skip is not counted
    assert stats["completion_rate"] == 1.0
    assert stats["days_until_break"] == 0
    one = alice.ok("stats", "1", "--json").json()
    assert one["skipped_dates"] == [ago(3)]
    heatmap = alice.ok("stats", "1").stdout
    assert "– skipped" in heatmap


def test_a_streak_of_skips_alone_is_no_streak() -> None:
    periods = streaks.Periods(datetime(2026, 1, 1).date(), 1)
    day = datetime(2026, 1, 10).date()
    numbers = streaks.streaks(periods, set(), day, 30, skipped={day - D, day - 2 * D})
    assert (numbers.current, numbers.longest, numbers.days_until_break) == (0, 0, None)
    bridged = streaks.streaks(periods, {day - 3 * D, day}, day, 30, skipped={day - D, day - 2 * D})
    assert (bridged.current, bridged.longest) == (2, 2)
    assert bridged.periods_counted == 8  # ten days from the anchor, two of them skipped
