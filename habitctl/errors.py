"""The domain's exceptions: every face (CLI, HTTP, daemon) maps these, and only these.

    HabitctlError
     ├── InvalidInput          a value breaks a rule (field and rule named)
     ├── AuthenticationError   no session, expired session, bad credentials, locked out
     ├── NotFound              missing, or somebody else's private data
     ├── Conflict              the change collides with existing data (R8, taken username)
     └── StorageError          the database cannot be used
          └── SchemaBehind     the database needs `habitctl db upgrade`

Nothing here knows about exit codes or HTTP statuses.
"""

from __future__ import annotations


class HabitctlError(Exception):
    """Base of every error a user can be shown."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(HabitctlError):
    code = "invalid_input"


class AuthenticationError(HabitctlError):
    code = "authentication"


class NotFound(HabitctlError):
    code = "not_found"


class Conflict(HabitctlError):
    code = "conflict"


class StorageError(HabitctlError):
    code = "storage_unavailable"


class SchemaBehind(StorageError):
    code = "schema_behind"
