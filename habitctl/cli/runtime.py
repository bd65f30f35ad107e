"""What every command shares: settings, the database, the logged-in user, error mapping.

A command body runs inside `command(ctx, as_json)`: domain errors become one line on
standard error (or a JSON object with `--json`) and the exit code of `ExitCode`; anything
else is an unexpected error, with a traceback only under `--debug`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from habitctl.cli.exitcodes import ExitCode, exit_code_for

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from habitctl.cli.tokens import TokenStore
    from habitctl.config import Settings
    from habitctl.storage.models import User


@dataclass
class Runtime:
    config: Path | None = None
    database_url: str | None = None
    debug: bool = False
    _factory: sessionmaker[Session] | None = field(default=None, repr=False)

    @cached_property
    def settings(self) -> Settings:
        from habitctl.config import load_settings

        return load_settings(self.config, database_url=self.database_url)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def session_factory(self, *, check_schema: bool = True) -> sessionmaker[Session]:
        if self._factory is None:
            from habitctl.storage.engine import ensure_schema, make_engine, make_sessionmaker

            engine = make_engine(self.settings.database_url)
            if check_schema:
                ensure_schema(engine, auto_migrate=True)
            self._factory = make_sessionmaker(engine)
        return self._factory

    def close(self) -> None:
        if self._factory is not None:
            self._factory.kw["bind"].dispose()
            self._factory = None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        from habitctl.storage.engine import transaction

        with transaction(self.session_factory()) as db:
            yield db

    @cached_property
    def tokens(self) -> TokenStore:
        from habitctl.cli.tokens import TokenStore

        return TokenStore(self.settings.database_url)

    def user(self, db: Session) -> User:
        """The logged-in user, or AuthenticationError telling how to log in."""
        from habitctl.errors import AuthenticationError
        from habitctl.services.accounts import authenticate

        stored = self.tokens.load()
        if stored is None:
            raise AuthenticationError("you are not logged in: run `habitctl login`")
        return authenticate(db, stored.token, self.now())


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime()
    return root.obj


class UsageProblem(Exception):
    """The command was called in a way that cannot work here (exit 2), e.g. `rm` with no
    terminal to confirm on and no `--yes`. Not a domain error: only the CLI has usage."""

    code = "usage"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def fail(error: Exception, *, as_json: bool) -> typer.Exit:
    """Print a domain error the way the user asked for and return the exit to raise."""
    from habitctl.core.text import printable

    code = ExitCode.USAGE if isinstance(error, UsageProblem) else exit_code_for(error)
    # Messages may quote what was typed or stored: never let that drive the terminal.
    message = printable(getattr(error, "message", None) or str(error))
    if as_json:
        payload = {
            "error": {
                "code": getattr(error, "code", "error"),
                "message": message,
                "field": getattr(error, "field", None),
            }
        }
        print(json.dumps(payload), file=sys.stderr)
    else:
        print(f"Error: {message}", file=sys.stderr)
    return typer.Exit(int(code))


@contextmanager
def command(ctx: typer.Context, as_json: bool = False) -> Iterator[Runtime]:
    rt = runtime(ctx)
    from habitctl.errors import HabitctlError

    try:
        yield rt
    except (HabitctlError, UsageProblem) as error:
        raise fail(error, as_json=as_json) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:
        if rt.debug:
            raise
        unexpected = RuntimeError(
            f"unexpected error ({type(error).__name__}: {error}); run again with --debug "
            "for the traceback"
        )
        raise fail(unexpected, as_json=as_json) from None


def emit_json(data: Any) -> None:
    """Pydantic models, lists of them, or plain data, as JSON on standard output."""
    from pydantic import BaseModel, TypeAdapter

    if isinstance(data, BaseModel):
        sys.stdout.write(data.model_dump_json(indent=2) + "\n")
        return
    sys.stdout.write(TypeAdapter(Any).dump_json(data, indent=2).decode() + "\n")


def parse_id(value: str, field_name: str = "id") -> int:
    from habitctl.errors import InvalidInput

    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0 or number > 2**31 - 1:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise InvalidInput(
            f"{field_name} must be a positive whole number, not {shown!r}", field=field_name
        )
    return number
