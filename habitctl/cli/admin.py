"""db upgrade, db current, config show."""

from __future__ import annotations

from typing import Annotated

import typer

from habitctl.cli.help import HabitctlTyper
from habitctl.cli.runtime import command, emit_json, runtime

db_app = HabitctlTyper(help="Database schema: migrate and inspect.", no_args_is_help=True)
config_app = HabitctlTyper(help="Configuration.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


RolesOption = Annotated[
    bool,
    typer.Option(
        "--roles", help="First create or update the PostgreSQL roles, as `db roles` does."
    ),
]


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, roles: RolesOption = False) -> None:
    """Migrate the database to the schema this habitctl needs (as the owner role if it exists)."""
    if roles:
        db_roles(ctx)
    with command(ctx) as rt:
        from sqlalchemy.exc import ProgrammingError

        from habitctl.errors import AuthenticationError
        from habitctl.storage.engine import make_engine, safe_url, translate_db_errors
        from habitctl.storage.migrate import current, upgrade

        engine = make_engine(rt.settings.database_url)
        try:
            with translate_db_errors(engine):
                before = current(engine)
                upgrade(engine)
                after = current(engine)
        except ProgrammingError as exc:
            raise AuthenticationError(
                "this role may not change the schema: run `habitctl db upgrade` as the "
                "database owner (habitctl_owner, see docs/security.md) "
                f"({str(exc.orig).strip().splitlines()[0]})"
            ) from None
        finally:
            engine.dispose()
    where = safe_url(rt.settings.database_url)
    if before == after:
        typer.echo(f"{where} is already at revision {after}.")
    else:
        typer.echo(f"Upgraded {where} from {before or 'an empty database'} to revision {after}.")


@db_app.command("roles")
def db_roles(ctx: typer.Context) -> None:
    """Create or update the PostgreSQL roles habitctl runs as (run once, as an admin).

    Passwords come from HABITCTL_DB_OWNER_PASSWORD, HABITCTL_DB_CLI_PASSWORD,
    HABITCTL_DB_DAEMON_PASSWORD and HABITCTL_DB_API_PASSWORD when set. See docs/security.md.
    """
    with command(ctx) as rt:
        from sqlalchemy.exc import ProgrammingError

        from habitctl.errors import AuthenticationError
        from habitctl.storage.engine import make_engine, translate_db_errors
        from habitctl.storage.roles import ensure_roles

        engine = make_engine(rt.settings.database_url)
        if engine.dialect.name != "postgresql":
            typer.echo("SQLite has no roles: the embedded database is single-user, single-trust.")
            return
        try:
            with translate_db_errors(engine):
                actions = ensure_roles(engine)
        except ProgrammingError as exc:
            raise AuthenticationError(
                "creating roles needs a PostgreSQL superuser or a role with CREATEROLE: "
                f"connect as one with --database-url ({str(exc.orig).strip().splitlines()[0]})"
            ) from None
        finally:
            engine.dispose()
    for action in actions:
        typer.echo(action.capitalize() + ".")


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the database's schema revision and the one this habitctl needs."""
    with command(ctx, as_json) as rt:
        from habitctl.storage.engine import SCHEMA_REVISION, current_revision, make_engine

        revision = current_revision(make_engine(rt.settings.database_url))
    data = {"current": revision, "head": SCHEMA_REVISION, "up_to_date": revision == SCHEMA_REVISION}
    if as_json:
        emit_json(data)
    else:
        state = "up to date" if data["up_to_date"] else "behind: run `habitctl db upgrade`"
        typer.echo(f"revision {revision or '(empty)'}, head {SCHEMA_REVISION}: {state}")


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the effective configuration (secrets masked) and where each value came from."""
    with command(ctx, as_json) as rt:
        from habitctl.config import config_path, describe_settings

        rows = describe_settings(rt.settings, rt.config, database_url=runtime(ctx).database_url)
        path = config_path(rt.config)
    if as_json:
        emit_json(
            {
                "config_file": str(path),
                "values": {key: {"value": value, "source": source} for key, value, source in rows},
            }
        )
        return
    from rich.table import Table

    from habitctl.cli.output import console

    table = Table(
        title=f"config file: {path}{'' if path.exists() else ' (not present)'}",
        title_justify="left",
    )
    for column in ("key", "value", "source"):
        table.add_column(column, overflow="fold")
    for key, value, source in rows:
        table.add_row(key, str(value), source)
    console().print(table)


def register_commands(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(config_app, name="config")
