"""telegram link, status, unlink."""

from __future__ import annotations

from typing import Annotated

import typer

from habitctl.cli.help import HabitctlTyper
from habitctl.cli.runtime import command, emit_json

telegram_app = HabitctlTyper(help="Link Telegram to receive reminders.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


NO_BOT = (
    "No Telegram bot is configured for this database yet: [telegram] bot_token is empty here "
    "and no habitctl-daemon has run against it, so there is no bot to send a link code to. "
    "Whoever runs the daemon sets bot_token (or HABITCTL_TELEGRAM_BOT_TOKEN) and starts "
    "`habitctl-daemon`; then run `habitctl telegram link` again."
)


@telegram_app.command()
def link(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print a one-time link (valid 15 minutes) that binds your Telegram chat to this account.

    Example:

    \b
        habitctl telegram link
    """
    with command(ctx, as_json) as rt:
        from habitctl.services import telegram_links

        has_token = bool(rt.settings.telegram.bot_token.get_secret_value())
        with rt.transaction() as db:
            user = rt.user(db)
            bot = telegram_links.bot_username(db) or rt.settings.telegram.bot_username
            # A code nobody can redeem is not issued: say why instead.
            code = telegram_links.create_link_code(db, user, rt.now()) if bot or has_token else None
    url = f"https://t.me/{bot}?start={code}" if bot and code else None
    if as_json:
        emit_json(
            {
                "code": code,
                "url": url,
                "expires_in_minutes": 15 if code else None,
                "bot_configured": code is not None,
            }
        )
    elif code is None:
        typer.echo(NO_BOT)
    elif url:
        typer.echo(f"Open this link in Telegram and press Start (valid 15 minutes):\n{url}")
    else:
        typer.echo(
            "Send this to the habitctl bot in Telegram (valid 15 minutes):\n"
            f"/start {code}\n(The bot's name is known once the daemon has run, or set "
            "[telegram] bot_username.)"
        )


@telegram_app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show whether reminders reach your Telegram chat."""
    with command(ctx, as_json) as rt:
        from habitctl.cli.habits import print_set_aside
        from habitctl.services import telegram_links
        from habitctl.services.reminders import set_aside_habits

        with rt.transaction() as db:
            user = rt.user(db)
            state = telegram_links.status(user)
            set_aside = set_aside_habits(db, user.id)
    if as_json:
        emit_json(
            {
                "linked": state.linked,
                "reachable": state.reachable,
                "telegram_username": state.telegram_username,
                "unreachable_since": state.unreachable_since,
                "unreachable_reason": state.unreachable_reason,
                "set_aside": [
                    {"habit_id": s.habit_id, "reason": s.reason, "since": s.since}
                    for s in set_aside
                ],
            }
        )
        return
    print_set_aside(set_aside)
    from habitctl.core.text import printable

    if not state.linked:
        typer.echo("Telegram is not linked: reminders are off. Run `habitctl telegram link`.")
    elif not state.reachable:
        typer.echo(
            f"Telegram is linked but unreachable since {state.unreachable_since:%Y-%m-%d %H:%M} "
            f"UTC ({printable(state.unreachable_reason or '')}): reminders are paused. Unblock "
            "the bot and run "
            "`habitctl telegram link` again."
        )
    else:
        who = f" (@{state.telegram_username})" if state.telegram_username else ""
        typer.echo(f"Telegram is linked{who}: reminders are on.")


@telegram_app.command()
def unlink(ctx: typer.Context) -> None:
    """Stop reminders: forget your Telegram chat."""
    with command(ctx) as rt:
        from habitctl.services import telegram_links

        with rt.transaction() as db:
            was_linked = telegram_links.unlink(db, rt.user(db))
    typer.echo(
        "Telegram unlinked: reminders are off." if was_linked else "Telegram was not linked."
    )


def register_commands(app: typer.Typer) -> None:
    app.add_typer(telegram_app, name="telegram")
