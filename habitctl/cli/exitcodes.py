"""Every exit code of `habitctl`, in one place (SPEC §6)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INVALID_INPUT = 3
    AUTHENTICATION = 4
    NOT_FOUND = 5
    CONFLICT = 6
    STORAGE = 7


def exit_code_for(error: Exception) -> ExitCode:
    """The exit code of a domain error (imported lazily: the errors module is light)."""
    from habitctl import errors

    mapping: list[tuple[type[Exception], ExitCode]] = [
        (errors.InvalidInput, ExitCode.INVALID_INPUT),
        (errors.AuthenticationError, ExitCode.AUTHENTICATION),
        (errors.NotFound, ExitCode.NOT_FOUND),
        (errors.Conflict, ExitCode.CONFLICT),
        (errors.StorageError, ExitCode.STORAGE),
    ]
    for kind, code in mapping:
        if isinstance(error, kind):
            return code
    return ExitCode.UNEXPECTED
