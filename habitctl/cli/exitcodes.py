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


# What each code means, as `habitctl --help` lists them.
MEANINGS = {
    ExitCode.OK: "ok",
    ExitCode.UNEXPECTED: "unexpected error (run again with --debug for the traceback)",
    ExitCode.USAGE: "usage: an unknown option, a missing argument",
    ExitCode.INVALID_INPUT: "invalid input: a value breaks a rule (the field is named)",
    ExitCode.AUTHENTICATION: "authentication required or failed",
    ExitCode.NOT_FOUND: "not found (also somebody else's private habit)",
    ExitCode.CONFLICT: "conflict: the change collides with existing data (R8)",
    ExitCode.STORAGE: "storage unavailable or schema behind",
}


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
