"""`habitctl today` and `habitctl stats` on both backends, and the heatmap as a terminal shows it.

The CLI runs on the real clock, so the local-day tests pick time zones whose dates differ from
UTC's at any hour (UTC+14 and UTC−12); the exact edges of a local day are tested through the
service with an explicit `now`, on a real database all the same.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rich.cells import cell_len
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from habitctl.cli import app as app_module
from habitctl.cli.exitcodes import ExitCode
from habitctl.cli.progress_view import habit_report
from habitctl.core import streaks
from habitctl.core.schemas import HabitCreate
from habitctl.services import progress
from habitctl.services.habits import create_habit, mark_done
from habitctl.storage.engine import transaction
from habitctl.storage.models import Completion, User, UserContact
from tests.cli import Cli
from tests.users import backdate

ANSI = re.compile(r"\x1b\[")
D = timedelta(days=1)


def local_today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def signup_in(cli: Cli, zone: str) -> Cli:
    cli.signup()
    cli.ok("profile", "--timezone", zone)
    return cli


# --- the edges of a local day, through the service with an explicit clock ---------------


def _user(db: Session, zone: str, created: datetime) -> User:
    """A user created at `created` (the admin's session writes the rows directly)."""
    user = User(username="alice", timezone=zone, created_at=created)
    db.add(user)
    db.flush()
    db.add(UserContact(user_id=user.id))
    return user


def _today(factory: sessionmaker[Session], user_id: int, now: datetime) -> tuple[date, dict]:
    with transaction(factory) as db:
        user = db.get(User, user_id)
        assert user is not None
        day, entries = progress.today(db, user, now)
        return day, {entry.habit.action: entry for entry in entries}


def test_today_flips_at_local_midnight_not_utc_midnight(
    session_factory: sessionmaker[Session],
) -> None:
    kiritimati = ZoneInfo("Pacific/Kiritimati")  # UTC+14: its day starts at 10:00 UTC
    created = datetime(2027, 1, 1, 6, 0, tzinfo=kiritimati)
    last_moment = datetime(2027, 1, 1, 23, 59, 59, 999999, tzinfo=kiritimati).astimezone(UTC)
    with transaction(session_factory) as db:
        user = _user(db, "Pacific/Kiritimati", created)
        spec = HabitCreate(action="stretch", place="home", time=time(7, 0), reward="tea")
        habit_id = create_habit(db, user, spec, created).id
        user_id = user.id
    day, entries = _today(session_factory, user_id, last_moment)
    assert day == date(2027, 1, 1)
    assert entries["stretch"].status is streaks.Status.MISSED
    with transaction(session_factory) as db:
        owner = db.get(User, user_id)
        assert owner is not None
        completion, _ = mark_done(db, owner, habit_id, None, last_moment)
        assert completion.local_date == date(2027, 1, 1)  # UTC still says 1 January, 09:59
    assert _today(session_factory, user_id, last_moment)[1]["stretch"].status is (
        streaks.Status.DONE
    )
    next_day, entries = _today(session_factory, user_id, last_moment + timedelta(microseconds=1))
    assert next_day == date(2027, 1, 2)
    assert entries["stretch"].status is streaks.Status.DUE
    assert entries["stretch"].numbers.current == 1
    assert entries["stretch"].numbers.days_until_break == 0


def test_today_lists_habits_in_time_order_on_their_days_only(
    session_factory: sessionmaker[Session],
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    created = datetime(2026, 10, 23, 9, 0, tzinfo=berlin)
    with transaction(session_factory) as db:
        user = _user(db, "Europe/Berlin", created)
        tea = create_habit(
            db, user, HabitCreate(action="tea", place="kitchen", time=time(6, 0), is_pleasant=True),
            created,
        )  # fmt: skip
        create_habit(
            db, user, HabitCreate(action="run", place="park", time=time(21, 0), periodicity_days=2,
                                  linked_habit_id=tea.id), created,
        )  # fmt: skip
        create_habit(
            db, user, HabitCreate(action="read", place="bed", time=time(10, 0), reward="cake"),
            created,
        )  # fmt: skip
        user_id = user.id
    # Across the fall-back night of 25 October: "run" is due on the 23rd, 25th, 27th; tea's
    # first 06:00 after creation is on the 24th.
    for day, expected in [
        (23, ["read", "run"]),
        (24, ["tea", "read"]),
        (25, ["tea", "read", "run"]),
    ]:
        now = datetime(2026, 10, day, 12, 0, tzinfo=berlin)
        listed, entries = _today(session_factory, user_id, now)
        assert listed == date(2026, 10, day)
        assert list(entries) == expected, day
    entries = _today(session_factory, user_id, datetime(2026, 10, 25, 12, 0, tzinfo=berlin))[1]
    assert entries["run"].then == "then #1 tea"
    assert entries["read"].then == "reward: cake"
    assert entries["read"].status is streaks.Status.MISSED
    assert entries["run"].status is streaks.Status.DUE


def test_an_open_period_on_its_last_day_is_listed_to_keep_the_streak(
    session_factory: sessionmaker[Session],
) -> None:
    created = datetime(2026, 12, 30, 8, 0, tzinfo=UTC)
    with transaction(session_factory) as db:
        user = _user(db, "UTC", created)
        habit = create_habit(
            db, user, HabitCreate(action="swim", place="pool", time=time(9, 0),
                                  periodicity_days=3, reward="sauna"), created,
        )  # fmt: skip
        # The period before its creation, as an import of older history leaves it.
        db.add(Completion(habit_id=habit.id, local_date=date(2026, 12, 28), created_at=created))
        user_id = user.id
    # Periods: 27–29 Dec (done), 30 Dec–1 Jan (open); reminders on 30 Dec, 2 Jan, …
    assert "swim" not in _today(session_factory, user_id, datetime(2026, 12, 31, tzinfo=UTC))[1]
    last_day = _today(session_factory, user_id, datetime(2027, 1, 1, 20, tzinfo=UTC))[1]
    assert last_day["swim"].status is streaks.Status.DUE
    assert last_day["swim"].numbers.days_until_break == 0


def test_a_reminder_time_in_the_spring_forward_gap_is_missed_an_hour_later(
    session_factory: sessionmaker[Session],
) -> None:
    created = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    with transaction(session_factory) as db:
        user = _user(db, "Europe/Berlin", created)
        create_habit(
            db, user, HabitCreate(action="wake", place="bed", time=time(2, 30), reward="coffee"),
            created,
        )  # fmt: skip
        user_id = user.id
    before = _today(session_factory, user_id, datetime(2026, 3, 29, 1, 29, tzinfo=UTC))[1]
    assert before["wake"].status is streaks.Status.DUE
    after = _today(session_factory, user_id, datetime(2026, 3, 29, 1, 30, tzinfo=UTC))[1]
    assert after["wake"].status is streaks.Status.MISSED


# --- the CLI on the real clock ---------------------------------------------------------------


def import_daily_habit(cli: Cli, at: str, created_days_ago: int) -> None:
    """A habit created days ago (only an import can set that) so today is one of its days."""
    created = datetime.now(UTC) - created_days_ago * D
    habit = {"id": 1, "action": "stretch", "place": "home", "time": at, "reward": "tea",
             "created_at": created.isoformat()}  # fmt: skip
    document = {"format": "habitctl", "version": 1, "habits": [habit], "completions": []}
    cli.ok("import", "-", input=json.dumps(document))


def test_today_uses_each_users_own_local_day(cli: Cli) -> None:
    ahead = signup_in(cli, "Pacific/Kiritimati")
    behind = signup_in(cli.as_user("bob"), "Etc/GMT+12")  # 26 hours apart: never the same day
    import_daily_habit(ahead, "00:00", 3)
    import_daily_habit(behind, "00:00", 3)
    for user, zone in ((ahead, "Pacific/Kiritimati"), (behind, "Etc/GMT+12")):
        before = local_today(zone)
        data = user.ok("today", "--json").json()
        assert date.fromisoformat(data["date"]) in {before, local_today(zone)}
        assert [(h["action"], h["status"]) for h in data["habits"]] == [("stretch", "missed")]
    ahead_day = ahead.ok("today", "--json").json()["date"]
    assert ahead_day > behind.ok("today", "--json").json()["date"]
    ahead.ok("done", "1")
    assert ahead.ok("today", "--json").json()["habits"][0]["status"] == "done"
    assert behind.ok("today", "--json").json()["habits"][0]["status"] == "missed"
    refused = behind("done", "2", "--date", ahead_day)  # already tomorrow in Kiritimati
    assert refused.exit_code == ExitCode.INVALID_INPUT


def test_a_habit_added_after_its_time_starts_tomorrow(cli: Cli) -> None:
    signup_in(cli, "Pacific/Kiritimati")
    cli.add("stretch", "--at", "00:00", "--place", "home", "--reward", "tea")
    assert cli.ok("today", "--json").json()["habits"] == []  # its first reminder is tomorrow
    cli.ok("done", "1")
    assert cli.ok("today", "--json").json()["habits"][0]["status"] == "done"


def test_today_shows_due_before_the_time_and_the_follow_up(cli: Cli) -> None:
    # A zone where 23:59 is still ahead, so "due" holds on the real clock.
    zone = next(z for z in ("UTC", "Asia/Tokyo", "America/New_York")
                if datetime.now(ZoneInfo(z)).hour < 23)  # fmt: skip
    signup_in(cli, zone)
    tea = cli.add("tea", "--at", "23:58", "--place", "kitchen", "--pleasant")
    cli.add("read", "--at", "23:59", "--place", "bed", "--linked", str(tea["id"]))
    data = cli.ok("today", "--json").json()
    assert [(h["action"], h["status"], h["then"]) for h in data["habits"]] == [
        ("tea", "due", None),
        ("read", "due", f"then #{tea['id']} tea"),
    ]
    screen = cli.ok("today").stdout
    assert "○ due" in screen
    assert "then #1 tea" in screen
    assert "0 of 2 done" in screen


def test_today_without_habits_says_what_to_do(cli: Cli) -> None:
    cli.signup()
    outcome = cli.ok("today")
    assert "nothing due" in outcome.stdout
    assert "habitctl add" in outcome.stdout


def test_today_and_stats_need_a_login(cli: Cli) -> None:
    for command in (["today"], ["stats"], ["export"]):
        outcome = cli(*command)
        assert outcome.exit_code == ExitCode.AUTHENTICATION, command
        assert "habitctl login" in outcome.stderr


def test_stats_counts_streaks_in_occurrences(cli: Cli) -> None:
    signup_in(cli, "Pacific/Kiritimati")
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    cli.add("swim", "--at", "07:00", "--place", "pool", "--reward", "sauna", "--every", "3")
    backdate(cli, 1, 4)  # tracked from today−4
    backdate(cli, 2, 12)  # four whole periods earlier: the same period boundaries
    today = local_today("Pacific/Kiritimati")
    for n in (0, 1, 2, 4):
        cli.ok("done", "1", "--date", (today - n * D).isoformat())
    for n in (3, 6, 12):  # periods −1, −2 and −4 counted back from today's
        cli.ok("done", "2", "--date", (today - n * D).isoformat())
    data = cli.ok("stats", "--days", "7", "--json").json()
    walk, swim = data["habits"]
    assert data["date"] == today.isoformat()
    assert (walk["current_streak"], walk["longest_streak"]) == (3, 3)
    assert walk["days_until_break"] == 1
    assert (walk["periods_done"], walk["periods_counted"]) == (4, 5)  # tracked from today−4
    assert walk["completion_rate"] == 0.8
    assert (swim["current_streak"], swim["longest_streak"]) == (2, 2)
    assert swim["days_until_break"] == 2  # the open period runs to today+2
    one = cli.ok("stats", "2", "--json").json()
    assert one["id"] == 2
    assert one["done_dates"] == sorted((today - n * D).isoformat() for n in (3, 6, 12))


def test_stats_overview_has_a_sparkline_per_habit(cli: Cli) -> None:
    cli.signup()
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    backdate(cli, 1, 20)
    today = local_today("UTC")
    for n in range(21):
        if n % 7 != 3:  # one day off in every run of seven
            cli.ok("done", "1", "--date", (today - n * D).isoformat())
    screen = cli.ok("stats").stdout
    assert "walk" in screen
    assert re.search(r" {8}[▁▂▃▄▅▆▇█]{3,}", screen), screen  # tracked for the last 3 weeks
    assert all(cell_len(line) <= 80 for line in screen.splitlines())
    assert cli.ok("stats", "--json").json()["habits"][0]["weekly"][-2] == pytest.approx(6 / 7)


def test_stats_of_a_habit_draws_a_year_heatmap_in_80_columns(cli: Cli) -> None:
    cli.signup()
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    backdate(cli, 1, 364)
    today = local_today("UTC")
    for n in (0, 3, 100, 300, 364):
        cli.ok("done", "1", "--date", (today - n * D).isoformat())
    screen = cli.ok("stats", "1").stdout
    lines = screen.splitlines()
    assert not ANSI.search(screen)
    assert all(cell_len(line) <= 80 for line in lines)
    rows = [line for line in lines if line[:3] in {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}]
    assert [row[:3] for row in rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert sum(row.count("█") for row in rows) == 5
    assert "█ done" in screen


def test_stats_of_someone_elses_private_habit_is_not_found(cli: Cli) -> None:
    cli.signup()
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    bob = cli.as_user("bob").signup()
    assert bob("stats", "1").exit_code == ExitCode.NOT_FOUND
    assert bob("stats", "99", "--json").error()["code"] == "not_found"
    assert bob("stats", "--days", "0").exit_code == ExitCode.USAGE


def test_bare_habitctl_on_a_terminal_shows_today_when_logged_in(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "Usage" in cli.ok().stdout  # not a terminal: help, as scripts expect
    monkeypatch.setattr(app_module, "_stdout_is_terminal", lambda: True)
    assert "Usage" in cli.ok().stdout  # a terminal, but nobody logged in
    cli.signup()
    cli.add("walk", "--at", "07:00", "--place", "park", "--reward", "tea")
    cli.ok("done", "1")
    screen = cli.ok().stdout
    assert "Today," in screen
    assert "✓ done" in screen
    assert "walk in park" in screen


# --- the heatmap as a terminal draws it ------------------------------------------------------


def _report(today: date) -> tuple[dict, dict, list]:
    weeks = streaks.calendar_weeks(today, 53)
    days = [d for week in weeks for d in week]
    periods = streaks.Periods(today - 400 * D, 2)
    done = {today - n * D for n in range(0, 400, 3)}
    marks = streaks.day_marks(periods, done, today, days)
    numbers = streaks.streaks(periods, done, today, 30)
    habit = {"id": 7, "action": "a rather long action to see the header wrap " * 2,
             "periodicity_days": 2, "current_streak": numbers.current,
             "longest_streak": numbers.longest, "completion_rate": numbers.rate,
             "days_until_break": numbers.days_until_break,
             "rate_since": (today - 29 * D).isoformat()}  # fmt: skip
    data = {"date": today.isoformat(), "timezone": "Europe/Berlin", "days": 30, "habits": [habit]}
    return data, marks, weeks


@pytest.mark.parametrize("today", [date(2026, 12, 31), date(2027, 1, 4), date(2028, 2, 29)])
def test_heatmap_fits_80_columns_without_colour_under_no_color(
    today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, marks, weeks = _report(today)
    written = io.StringIO()  # NO_COLOR=1 is set for every test, as a user would set it
    plain = Console(width=80, record=True, force_terminal=True, file=written)
    plain.print(habit_report(data, marks, weeks))
    assert not ANSI.search(written.getvalue())
    text = plain.export_text()
    assert all(cell_len(line) <= 80 for line in text.splitlines())
    grid = [line for line in text.splitlines() if line[:3] in {"Mon", "Wed", "Sun"}]
    assert len(grid) == 3
    assert {"█", "▒", "·"} <= set("".join(grid))
    monkeypatch.delenv("NO_COLOR")
    in_colour = io.StringIO()
    Console(width=80, force_terminal=True, file=in_colour).print(habit_report(data, marks, weeks))
    assert ANSI.search(in_colour.getvalue())  # the check above can fail
