"""add, list, show, edit, rm, public, done."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from habitctl.cli.runtime import UsageProblem, command, emit_json, parse_id

if TYPE_CHECKING:
    from collections.abc import Sequence

    from habitctl.core.schemas import HabitView
    from habitctl.services.reminders import SetAside
    from habitctl.storage.models import Habit, User

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
At = Annotated[str | None, typer.Option("--at", help="Local time HH:MM (24-hour).")]
Place = Annotated[str | None, typer.Option("--place", help="Where you do it.")]
Every = Annotated[int | None, typer.Option("--every", help="Every N days, 1–7.")]
Duration = Annotated[int | None, typer.Option("--duration", help="Seconds it takes, 1–120.")]
Pleasant = Annotated[
    bool | None, typer.Option("--pleasant/--useful", help="A pleasant habit is a reward itself.")
]
Reward = Annotated[str | None, typer.Option("--reward", help="Your reward afterwards.")]
Linked = Annotated[
    str | None, typer.Option("--linked", help="Id of a pleasant habit to do right after.")
]
Public = Annotated[bool | None, typer.Option("--public/--private", help="Visible to everyone?")]


def _options(**given: Any) -> dict[str, Any]:
    """CLI options as model fields, leaving out what was not given."""
    names = {
        "at": "time",
        "every": "periodicity_days",
        "duration": "duration_seconds",
        "pleasant": "is_pleasant",
        "linked": "linked_habit_id",
        "public": "is_public",
    }
    values = {names.get(key, key): value for key, value in given.items() if value is not None}
    if "linked_habit_id" in values:
        values["linked_habit_id"] = parse_id(values["linked_habit_id"], "linked_habit_id")
    return values


def _views(habits: list[Habit]) -> list[HabitView]:
    from habitctl.services.habits import view

    return [view(habit) for habit in habits]


def _print_habits(views: list[HabitView], title: str, *, show_owner: bool = False) -> None:
    from habitctl.cli.output import console, habits_table

    if not views:
        typer.echo(
            'No habits yet: add one with `habitctl add "I will … at HH:MM in …"`.'
            if not show_owner
            else "No public habits."
        )
        return
    console.print(habits_table(views, title=title, show_owner=show_owner))


def print_set_aside(habits: Sequence[SetAside]) -> None:
    """Habits whose reminders the daemon set aside, with its reason (stored text: escaped)."""
    for item in habits:
        reason = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in item.reason)
        print(
            f"Reminders for habit {item.habit_id} are set aside: {reason}. "
            "Fix it (`habitctl edit`, `habitctl profile --timezone`); the daemon tries again "
            "within the hour.",
            file=sys.stderr,
        )


def _reminders_off_note(user: User) -> None:
    reach = user.contact
    if reach is None or reach.telegram_chat_id is None:
        print(
            "Reminders are off until Telegram is linked: run `habitctl telegram link`.",
            file=sys.stderr,
        )
    elif reach.telegram_unreachable_at is not None:
        print(
            "Reminders are paused: Telegram cannot reach your chat "
            f"({reach.telegram_unreachable_reason}). Run `habitctl telegram link` again.",
            file=sys.stderr,
        )


def _show_one(view: HabitView, as_json: bool) -> None:
    if as_json:
        emit_json(view)
    else:
        from habitctl.cli.output import show_habit

        show_habit(view)


def add(
    ctx: typer.Context,
    action: Annotated[
        str,
        typer.Argument(
            help='What you will do, or the whole sentence "I will [ACTION] at [HH:MM] in [PLACE]".'
        ),
    ],
    at: At = None,
    place: Place = None,
    every: Every = None,
    duration: Duration = None,
    pleasant: Pleasant = None,
    reward: Reward = None,
    linked: Linked = None,
    public: Public = None,
    as_json: JsonOption = False,
) -> None:
    """Add a habit: habitctl add "I will meditate at 07:30 in the bedroom" --reward tea."""
    with command(ctx, as_json) as rt:
        from habitctl.core.schemas import HabitCreate, validate
        from habitctl.core.sentence import is_sentence, parse_sentence
        from habitctl.services.habits import create_habit, view

        values: dict[str, Any] = {"action": action}
        if is_sentence(action):
            values = parse_sentence(action)
        values.update(
            _options(
                at=at,
                place=place,
                every=every,
                duration=duration,
                pleasant=pleasant,
                reward=reward,
                linked=linked,
                public=public,
            )
        )
        _require(values)
        spec = validate(HabitCreate, values)
        with rt.transaction() as db:
            user = rt.user(db)
            result = view(create_habit(db, user, spec, rt.now()))
    _show_one(result, as_json)
    if not as_json:
        _reminders_off_note(user)


def _require(values: dict[str, Any]) -> None:
    from habitctl.core.sentence import EXPECTED
    from habitctl.errors import InvalidInput

    for key, option in (("time", "--at HH:MM"), ("place", "--place PLACE")):
        if key not in values:
            raise InvalidInput(f"{key} is required: pass {option}, or {EXPECTED}", field=key)


def list_habits(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List your habits."""
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import list_own
        from habitctl.services.reminders import set_aside_habits

        with rt.transaction() as db:
            user = rt.user(db)
            views = _views(list_own(db, user))
            set_aside = set_aside_habits(db, user.id)
    if as_json:
        emit_json([v.model_dump(mode="json") for v in views])
        return
    _print_habits(views, f"{user.username}'s habits ({user.timezone})")
    _reminders_off_note(user)
    print_set_aside(set_aside)


def show(
    ctx: typer.Context,
    habit_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """Show one of your habits, or anyone's public habit."""
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import get_visible, view

        number = parse_id(habit_id)
        with rt.transaction() as db:
            result = view(get_visible(db, rt.user(db), number))
    _show_one(result, as_json)


def edit(
    ctx: typer.Context,
    habit_id: Annotated[str, typer.Argument(metavar="ID")],
    action: Annotated[str | None, typer.Option("--action", help="New action.")] = None,
    at: At = None,
    place: Place = None,
    every: Every = None,
    duration: Duration = None,
    pleasant: Pleasant = None,
    reward: Reward = None,
    no_reward: Annotated[bool, typer.Option("--no-reward", help="Remove the reward.")] = False,
    linked: Linked = None,
    no_link: Annotated[bool, typer.Option("--no-link", help="Remove the link.")] = False,
    public: Public = None,
    as_json: JsonOption = False,
) -> None:
    """Change a habit; the result must still follow every rule, or nothing changes."""
    with command(ctx, as_json) as rt:
        from habitctl.core.schemas import HabitUpdate, validate
        from habitctl.errors import InvalidInput
        from habitctl.services.habits import update_habit, view

        number = parse_id(habit_id)
        if no_reward and reward is not None:
            raise InvalidInput("--reward and --no-reward contradict each other", field="reward")
        if no_link and linked is not None:
            raise InvalidInput(
                "--linked and --no-link contradict each other", field="linked_habit_id"
            )
        values = _options(
            action=action,
            at=at,
            place=place,
            every=every,
            duration=duration,
            pleasant=pleasant,
            reward=reward,
            linked=linked,
            public=public,
        )
        if no_reward:
            values["reward"] = None
        if no_link:
            values["linked_habit_id"] = None
        if not values:
            raise InvalidInput(
                "nothing to change: give at least one option, e.g. --at 08:00 "
                "(`habitctl edit --help` lists them)"
            )
        changes = validate(HabitUpdate, values)
        with rt.transaction() as db:
            result = view(update_habit(db, rt.user(db), number, changes, rt.now()))
    _show_one(result, as_json)


def rm(
    ctx: typer.Context,
    habit_id: Annotated[str, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a habit and its history."""
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import delete_habit, get_own

        number = parse_id(habit_id)
        if not yes and not sys.stdin.isatty():
            # A script deleting by accident loses history for good: make it say so.
            raise UsageProblem(
                f"no terminal to confirm on: pass --yes to delete habit {number}", field="yes"
            )
        if not yes:
            with rt.transaction() as db:
                habit = get_own(db, rt.user(db), number)
                prompt = f"Delete habit {number} ({habit.action!r}) and its history?"
            if not typer.confirm(prompt):
                typer.echo(f"Kept habit {number}.")
                raise typer.Exit(0)
        with rt.transaction() as db:
            delete_habit(db, rt.user(db), number)
    if as_json:
        emit_json({"deleted": number})
    else:
        typer.echo(f"Deleted habit {number}.")


def public(
    ctx: typer.Context,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number.")] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=100, help="1–100.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Browse everyone's public habits (no login needed)."""
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import list_public_page

        with rt.transaction() as db:
            views = _views(list_public_page(db, page=page, per_page=per_page))
    if as_json:
        emit_json([v.model_dump(mode="json") for v in views])
        return
    _print_habits(views, f"Public habits, page {page}", show_owner=True)


def done(
    ctx: typer.Context,
    habit_id: Annotated[str, typer.Argument(metavar="ID")],
    date: Annotated[
        str | None, typer.Option("--date", help="Local day YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record that you did a habit (once per habit and day)."""
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import mark_done

        number = parse_id(habit_id)
        day = _parse_date(date)
        with rt.transaction() as db:
            completion, new = mark_done(db, rt.user(db), number, day, rt.now())
            data = {"habit_id": number, "date": completion.local_date.isoformat(), "new": new}
    if as_json:
        emit_json(data)
    elif new:
        typer.echo(f"Habit {number} done on {data['date']}. ✅")
    else:
        typer.echo(f"Habit {number} was already done on {data['date']}.")


def _parse_date(value: str | None) -> Any:
    if value is None:
        return None
    from datetime import date

    from habitctl.errors import InvalidInput

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"date must be YYYY-MM-DD, not {value!r}", field="date") from None


def register_commands(app: typer.Typer) -> None:
    app.command()(add)
    app.command("list")(list_habits)
    for function in (show, edit, rm, public, done):
        app.command()(function)
