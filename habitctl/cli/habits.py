"""add, list, show, edit, rm, public: the habits themselves (their days are in `days`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from habitctl.cli.options import (
    At,
    Duration,
    EditDuration,
    EditEvery,
    EditPleasant,
    EditPublic,
    Every,
    HabitId,
    JsonOption,
    Linked,
    Place,
    Pleasant,
    Public,
    Reward,
)
from habitctl.cli.runtime import UsageProblem, command, emit_json, parse_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from habitctl.core.schemas import HabitView
    from habitctl.storage.models import Habit, User

REMINDERS_OFF = "Reminders are off until Telegram is linked: run `habitctl telegram link`."


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


def _views(habits: list[Habit], now: Any, viewer: User | None) -> list[HabitView]:
    from habitctl.services.habits import view

    return [view(habit, now, viewer) for habit in habits]


def reminders_note(user: User) -> str | None:
    """Why this user's reminders do not reach them, or None when they do."""
    from habitctl.core.text import printable

    reach = user.contact
    if reach is None or reach.telegram_chat_id is None:
        return REMINDERS_OFF
    if reach.telegram_unreachable_at is not None:
        reason = printable(reach.telegram_unreachable_reason or "no reason given")
        return (
            f"Reminders are paused: Telegram cannot reach your chat ({reason}). "
            "Run `habitctl telegram link` again."
        )
    return None


def _first_useful(db: Session, user: User) -> bool:
    from sqlalchemy import func, select

    from habitctl.storage.models import Habit

    count = db.scalar(
        select(func.count()).where(Habit.user_id == user.id, Habit.is_pleasant.is_(False))
    )
    return count == 1


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
            metavar="ACTION",
            help='What you will do, or the whole sentence "I will [ACTION] at [HH:MM] in [PLACE]".',
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
    """Add a habit, in the book's words or with options; it prints the habit and its id.

    Example:

    \b
        habitctl add "I will meditate at 07:30 in the bedroom" --reward "a cup of tea"
        habitctl add stretch --at 21:05 --place "living room" --every 2 --linked 1
        habitctl add "Я буду отжиматься в 19:00 на балконе" --pleasant
    """
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
            result = view(create_habit(db, user, spec, rt.now()), rt.now(), user)
            # Said once, where it matters: with a person's first habit that would remind.
            note = (
                reminders_note(user) if not spec.is_pleasant and _first_useful(db, user) else None
            )
    _show_one(result, as_json)
    if note and not as_json:
        print(note, file=sys.stderr)


def _require(values: dict[str, Any]) -> None:
    from habitctl.core.sentence import EXPECTED
    from habitctl.errors import InvalidInput

    for key, option in (("time", "--at HH:MM"), ("place", "--place PLACE")):
        if key not in values:
            raise InvalidInput(f"{key} is required: pass {option}, or {EXPECTED}", field=key)


def list_habits(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List your habits, with when each reminds you next.

    Example:

    \b
        habitctl list
        habitctl list --json | jq '.[] | select(.is_public) | .id'
    """
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import list_own

        with rt.transaction() as db:
            user = rt.user(db)
            views = _views(list_own(db, user), rt.now(), user)
            note = reminders_note(user) if any(not v.is_pleasant for v in views) else None
    if as_json:
        emit_json([v.model_dump(mode="json") for v in views])
        return
    from habitctl.cli.output import console, habits_table

    if not views:
        typer.echo('No habits yet: add one with `habitctl add "I will … at HH:MM in …"`.')
        return
    table = habits_table(views, title=f"{user.username}'s habits ({user.timezone})")
    if note:
        table.caption, table.caption_justify = note, "left"
    console().print(table)


def show(ctx: typer.Context, habit_id: HabitId, as_json: JsonOption = False) -> None:
    """Show one of your habits, or anyone's public habit.

    Example:

    \b
        habitctl show 2
    """
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import get_visible, view

        number = parse_id(habit_id)
        with rt.transaction() as db:
            viewer = rt.user(db)
            result = view(get_visible(db, viewer, number), rt.now(), viewer)
    _show_one(result, as_json)


def edit(
    ctx: typer.Context,
    habit_id: HabitId,
    action: Annotated[
        str | None, typer.Option("--action", metavar="ACTION", help="What you will do.")
    ] = None,
    at: At = None,
    place: Place = None,
    every: EditEvery = None,
    duration: EditDuration = None,
    pleasant: EditPleasant = None,
    reward: Reward = None,
    no_reward: Annotated[bool, typer.Option("--no-reward", help="Remove the reward.")] = False,
    linked: Linked = None,
    no_link: Annotated[bool, typer.Option("--no-link", help="Remove the link.")] = False,
    public: EditPublic = None,
    as_json: JsonOption = False,
) -> None:
    """Change a habit; the result must still follow every rule, or nothing changes.

    Example:

    \b
        habitctl edit 2 --at 07:45 --public
        habitctl edit 2 --no-link --reward "a cup of tea"
    """
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
            user = rt.user(db)
            result = view(update_habit(db, user, number, changes, rt.now()), rt.now(), user)
    _show_one(result, as_json)


def rm(
    ctx: typer.Context,
    habit_id: HabitId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a habit and its history; on a terminal it asks first.

    Example:

    \b
        habitctl rm 3
        habitctl rm 3 --yes    # in a script
    """
    with command(ctx, as_json) as rt:
        from habitctl.core.text import printable
        from habitctl.services.habits import delete_habit, get_own, refuse_if_linked

        number = parse_id(habit_id)
        with rt.transaction() as db:
            # Whatever would refuse the deletion is said before anyone is asked to confirm it.
            habit = get_own(db, rt.user(db), number)
            refuse_if_linked(db, habit, "deleted")
            prompt = f"Delete habit {number} ({printable(habit.action)!r}) and its history?"
        if not yes and not sys.stdin.isatty():
            # A script deleting by accident loses history for good: make it say so.
            raise UsageProblem(
                f"no terminal to confirm on: pass --yes to delete habit {number}", field="yes"
            )
        if not yes and not typer.confirm(prompt):
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
    page: Annotated[int, typer.Option("--page", metavar="N", min=1, help="Page number.")] = 1,
    per_page: Annotated[
        int, typer.Option("--per-page", metavar="N", min=1, max=100, help="Habits per page.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """Browse everyone's public habits (no login needed).

    Example:

    \b
        habitctl public --page 2 --per-page 50
    """
    with command(ctx, as_json) as rt:
        from habitctl.services.habits import list_public_page

        with rt.transaction() as db:
            habits = list_public_page(db, page=page, per_page=per_page)
            views = _views(habits, rt.now(), None)
    if as_json:
        emit_json([v.model_dump(mode="json") for v in views])
        return
    if not views:
        typer.echo("No public habits.")
        return
    from habitctl.cli.output import console, habits_table

    console().print(habits_table(views, title=f"Public habits, page {page}", show_owner=True))


def register_commands(app: typer.Typer) -> None:
    app.command()(add)
    app.command("list")(list_habits)
    for function in (show, edit, rm, public):
        app.command()(function)
