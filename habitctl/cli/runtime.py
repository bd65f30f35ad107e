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
from habitctl.errors import HabitctlError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from habitctl.cli.tokens import StoredToken, TokenStore
    from habitctl.config import Settings
    from habitctl.storage.models import User


@dataclass
class Runtime:
    config: Path | None = None
    database_url: str | None = None
    debug: bool = False
    username: str | None = None  # --user: whose stored session to use
    _factory: sessionmaker[Session] | None = field(default=None, repr=False)
    _gate_factory: sessionmaker[Session] | None = field(default=None, repr=False)
    # A stored token that is no session token: said when a command needs the user, so that
    # an unreachable database is still reported as such first.
    _token_error: HabitctlError | None = field(default=None, repr=False)

    @cached_property
    def settings(self) -> Settings:
        from habitctl.config import load_settings

        return load_settings(self.config, database_url=self.database_url)

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def on_postgres(self) -> bool:
        from sqlalchemy.engine import make_url

        return make_url(self.settings.database_url).get_backend_name() == "postgresql"

    def _session_url(self) -> str:
        """On PostgreSQL a logged-in CLI connects as its session role; else the given URL."""
        url = self.settings.database_url
        if not self.on_postgres:
            return url
        stored = self.tokens.load()
        if stored is None:
            return url  # the gate: public habits, and "not logged in" from `user()`
        from habitctl.services.member_roles import session_url

        try:
            return session_url(url, stored.token)
        except HabitctlError:
            self._token_error = _token_problem(stored, "is not a habitctl session token")
            return url

    def session_factory(
        self, *, check_schema: bool = True, gate: bool = False
    ) -> sessionmaker[Session]:
        """The database as this member (or, with `gate`, as the shared login role)."""
        current = self._gate_factory if gate else self._factory
        if current is None:
            from habitctl.storage.engine import ensure_schema, make_engine, make_sessionmaker

            url = self.settings.database_url if gate else self._session_url()
            engine = make_engine(url)
            if check_schema:
                try:
                    ensure_schema(engine, auto_migrate=True)
                except HabitctlError as error:
                    raise self._refused_session(error) from None
            current = make_sessionmaker(engine)
            if gate:
                self._gate_factory = current
            else:
                self._factory = current
        return current

    def _refused_session(self, error: HabitctlError) -> HabitctlError:
        """PostgreSQL refusing a session role's secret means the session is over."""
        from habitctl.services.member_roles import is_authentication_failure

        cause = error.__cause__
        if cause is None or not is_authentication_failure(cause):
            return error
        stored = self.tokens.load()
        if stored is not None and stored.from_environment:
            return _token_problem(stored, "holds a session that has expired or was revoked")
        from habitctl.errors import AuthenticationError

        return AuthenticationError("your session has expired or was revoked: run `habitctl login`")

    def close(self) -> None:
        for factory in (self._factory, self._gate_factory):
            if factory is not None:
                factory.kw["bind"].dispose()
        self._factory = self._gate_factory = None

    @contextmanager
    def transaction(self, *, gate: bool = False) -> Iterator[Session]:
        """One unit of work; `gate` for register and login, which come before any session."""
        from habitctl.storage.engine import transaction

        with transaction(self.session_factory(gate=gate)) as db:
            yield db

    @cached_property
    def tokens(self) -> TokenStore:
        from habitctl.cli.tokens import TokenStore

        return TokenStore(self.settings.database_url, self.username)

    def user(self, db: Session) -> User:
        """The logged-in user, or AuthenticationError telling how to log in."""
        from habitctl.errors import AuthenticationError
        from habitctl.services.accounts import authenticate

        if self._token_error is not None:
            raise self._token_error
        stored = self.tokens.load()
        if stored is None:
            if self.tokens.user is not None:
                raise AuthenticationError(
                    f"{self.tokens.user} is not logged in here: run "
                    f"`habitctl login --username {self.tokens.user}`",
                    field="user",
                )
            raise AuthenticationError("you are not logged in: run `habitctl login`")
        try:
            return authenticate(db, stored.token, self.now())
        except AuthenticationError as error:
            if stored.from_environment:
                raise _token_problem(stored, "holds no live session") from error
            raise


def _token_problem(stored: StoredToken, what: str) -> HabitctlError:
    """A session token from HABITCTL_TOKEN that does not work, named as such."""
    from habitctl.cli.tokens import TOKEN_VARIABLE
    from habitctl.errors import AuthenticationError

    if not stored.from_environment:
        return AuthenticationError(
            "your stored session is damaged: run `habitctl login` to replace it"
        )
    return AuthenticationError(
        f"{TOKEN_VARIABLE} {what}: unset it, or set it to a token of a live session "
        "(run `habitctl login`)",
        field=TOKEN_VARIABLE,
    )


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
