"""telegram link, status, unlink."""

from __future__ import annotations

from typing import Annotated

import typer

from habitctl.cli.help import HabitctlTyper
from habitctl.cli.runtime import command, emit_json

telegram_app = HabitctlTyper(help="Link Telegram to receive reminders.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@telegram_app.command()
def link(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print a one-time link (valid 15 minutes) that binds your Telegram chat to this account."""
    with command(ctx, as_json) as rt:
        from habitctl.services import telegram_links

        with rt.transaction() as db:
            code = telegram_links.create_link_code(db, rt.user(db), rt.now())
            bot = telegram_links.bot_username(db) or rt.settings.telegram.bot_username
    url = f"https://t.me/{bot}?start={code}" if bot else None
    if as_json:
        emit_json({"code": code, "url": url, "expires_in_minutes": 15})
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
        from habitctl.services import telegram_links

        with rt.transaction() as db:
            state = telegram_links.status(rt.user(db))
    if as_json:
        emit_json(
            {
                "linked": state.linked,
                "reachable": state.reachable,
                "telegram_username": state.telegram_username,
                "unreachable_since": state.unreachable_since,
                "unreachable_reason": state.unreachable_reason,
            }
        )
    elif not state.linked:
        typer.echo("Telegram is not linked: reminders are off. Run `habitctl telegram link`.")
    elif not state.reachable:
        typer.echo(
            f"Telegram is linked but unreachable since {state.unreachable_since:%Y-%m-%d %H:%M} "
            f"UTC ({state.unreachable_reason}): reminders are paused. Unblock the bot and run "
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
