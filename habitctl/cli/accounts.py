"""register, login, logout, whoami, profile."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from habitctl.cli.runtime import command, emit_json

if TYPE_CHECKING:
    from habitctl.storage.models import User

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UsernameOption = Annotated[str | None, typer.Option("--username", "-u", help="Your username.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _username(given: str | None) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        from habitctl.errors import InvalidInput

        raise InvalidInput("no terminal to ask for the username: pass --username", field="username")
    return str(typer.prompt("Username"))


def _password(from_stdin: bool, *, new: bool) -> str:
    """The password from standard input or a terminal; a new one is checked, then asked
    again, so a too-short or blank one is refused before the second prompt."""
    from habitctl.errors import InvalidInput
    from habitctl.services.accounts import check_new_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on standard input", field="password")
    elif not sys.stdin.isatty():
        raise InvalidInput(
            "no terminal to ask for the password: pipe it in with --password-stdin",
            field="password",
        )
    else:
        password = str(typer.prompt("Password", hide_input=True))
    if new:
        check_new_password(password)
        if not from_stdin and typer.prompt("Repeat the password", hide_input=True) != password:
            raise InvalidInput(
                "the two passwords differ: run `habitctl register` again", field="password"
            )
    return password


def _user_json(user: User) -> dict[str, object]:
    reach = user.contact  # None right after registering on PostgreSQL (not yet logged in)
    return {
        "username": user.username,
        "timezone": user.timezone,
        "telegram_username": reach.telegram_username if reach else None,
        "telegram_linked": reach is not None and reach.telegram_chat_id is not None,
    }


def register(
    ctx: typer.Context,
    username: UsernameOption = None,
    password_stdin: PasswordStdin = False,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="IANA time zone (default: this machine's)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an account (the password is asked twice, without echo)."""
    with command(ctx, as_json) as rt:
        from habitctl.core.zones import machine_zone, zone
        from habitctl.services.accounts import register as register_user

        if timezone is not None:
            zone(timezone)  # before any prompt: a bad zone is refused at once
        name = _username(username)
        password = _password(password_stdin, new=True)
        with rt.transaction(gate=True) as db:
            user = register_user(db, name, password, timezone or machine_zone(), rt.now())
            data = _user_json(user)
    if as_json:
        emit_json(data)
    else:
        typer.echo(
            f"Registered {data['username']} (timezone {data['timezone']}). Next: `habitctl login`."
        )


def login(
    ctx: typer.Context,
    username: UsernameOption = None,
    password_stdin: PasswordStdin = False,
    as_json: JsonOption = False,
) -> None:
    """Open a session for 30 days; the token goes to the OS keyring."""
    with command(ctx, as_json) as rt:
        from habitctl.errors import AuthenticationError
        from habitctl.services.accounts import BAD_CREDENTIALS
        from habitctl.services.accounts import login as login_user

        name = _username(username)
        password = _password(password_stdin, new=False)
        replaces = rt.tokens.stored_for(name.strip().lower())
        with rt.transaction(gate=True) as db:
            result = login_user(db, name, password, rt.now(), replaces=replaces)
            if result is not None:
                user, token = result
                data = _user_json(user)
        if result is None:  # SQLite: the failure is committed, it counts toward the pause
            raise AuthenticationError(BAD_CREDENTIALS)
        file = rt.tokens.save(str(data["username"]), token)
        if file is not None:
            print(
                f"Note: no OS keyring is available here, so the session token is kept in "
                f"{file} (readable only by you).",
                file=sys.stderr,
            )
    if as_json:
        emit_json(data)
    else:
        typer.echo(f"Logged in as {data['username']}.")


def logout(ctx: typer.Context) -> None:
    """Revoke this session and forget its token."""
    with command(ctx) as rt:
        from habitctl.errors import AuthenticationError
        from habitctl.services.accounts import logout as logout_session
        from habitctl.services.accounts import sweep_sessions

        stored = rt.tokens.load()
        if stored is not None:
            try:
                with rt.transaction() as db:
                    logout_session(db, stored.token, rt.now())
            except AuthenticationError:
                pass  # already expired or revoked: nothing left to revoke
            rt.close()  # the session's connection goes before its role is dropped
            with rt.transaction(gate=True) as db:
                sweep_sessions(db)
        if stored is None or not stored.from_environment:
            rt.tokens.forget()
    typer.echo("Logged out." if stored else "You were not logged in.")


def whoami(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show who you are logged in as."""
    with command(ctx, as_json) as rt, rt.transaction() as db:
        data = _user_json(rt.user(db))
    if as_json:
        emit_json(data)
    else:
        typer.echo(f"{data['username']} (timezone {data['timezone']})")


def profile(
    ctx: typer.Context,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA time zone, e.g. Europe/Berlin.")
    ] = None,
    telegram_username: Annotated[
        str | None, typer.Option("--telegram-username", help="Your Telegram @username.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show or change your profile; a new timezone moves every reminder to the new local time."""
    with command(ctx, as_json) as rt:
        from habitctl.services.accounts import update_profile

        with rt.transaction() as db:
            user = rt.user(db)
            update_profile(
                db, user, timezone=timezone, telegram_username=telegram_username, now=rt.now()
            )
            data = _user_json(user)
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        typer.echo(f"{key}: {'—' if value is None else value}")


def register_commands(app: typer.Typer) -> None:
    for function in (register, login, logout, whoami, profile):
        app.command()(function)
