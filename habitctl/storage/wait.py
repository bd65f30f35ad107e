"""Waiting for a database that is still starting (compose's `migrate` beside a fresh `db`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from habitctl.errors import StorageError
from habitctl.storage.engine import safe_url

# A refused password or an unknown role does not heal by waiting: fail at once.
_FINAL = ("authentication failed", "no password supplied", "role", "does not exist")


def wait_for_database(
    engine: Engine, seconds: float, *, said: Callable[[str], None], pause: float = 1.0
) -> None:
    """Return once `engine` answers `SELECT 1`; StorageError if it does not within `seconds`.

    `said` is told once that the check is waiting (for the command's standard error).
    """
    deadline = time.monotonic() + seconds
    waiting = False
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            if any(sign in reason.lower() for sign in _FINAL) or time.monotonic() >= deadline:
                raise StorageError(
                    f"the database at {safe_url(str(engine.url))} did not answer within "
                    f"{seconds:g} s: {reason}. Check `database_url` and that the server is "
                    "running."
                ) from None
            if not waiting:
                said(f"waiting for the database at {safe_url(str(engine.url))} ({reason})")
                waiting = True
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
