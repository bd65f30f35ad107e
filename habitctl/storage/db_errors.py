"""PostgreSQL's refusals, as the domain errors the CLI already gives for the same rules.

Python checks every rule first, so a user sees these only when the database is the one to
notice (a concurrent change, a rule only data can decide). Constraint names come from
migrations/sql/0003_habit_rules.sql; the SQLSTATEs `HC404`, `HC409` and `HC429` are raised
by its functions for "not found", R8 and quotas.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from habitctl.core.schemas import FIELD_MESSAGES, R1
from habitctl.errors import Conflict, HabitctlError, InvalidInput, NotFound

CHECK_VIOLATION = "23514"
_TEXT = "must be 1 to 255 characters, not blank, without control characters"
CONSTRAINTS: dict[str, tuple[str, str]] = {
    "ck_habits_action": ("action", f"action {_TEXT}"),
    "ck_habits_place": ("place", f"place {_TEXT}"),
    "ck_habits_reward": ("reward", f"reward {_TEXT}"),
    "ck_habits_time": ("time", FIELD_MESSAGES["time"]),
    "ck_habits_duration": ("duration_seconds", FIELD_MESSAGES["duration_seconds"]),
    "ck_habits_periodicity": ("periodicity_days", FIELD_MESSAGES["periodicity_days"]),
    "ck_habits_r1": ("reward", R1),
    "ck_habits_r4": (
        "is_pleasant",
        "a pleasant habit has neither a reward nor a linked habit (R4)",
    ),
    "ck_habits_r6": (
        "reward",
        "a useful habit needs exactly one of a reward and a linked pleasant habit (R6)",
    ),
    "ck_habits_next_reminder_at": (
        "next_reminder_at",
        "the next reminder must fall between the years 2000 and 2200",
    ),
    "ck_habits_link_not_self": ("linked_habit_id", "a habit cannot be linked to itself (R3)"),
    "ck_completions_local_date": ("date", "the date must fall between the years 2000 and 2200"),
    "ck_user_contacts_email": ("email", f"e-mail {_TEXT}"),
    "ck_user_contacts_telegram_username": (
        "telegram_username",
        "telegram username must be 1 to 64 characters, without control characters",
    ),
}


def domain_error(exc: DBAPIError) -> HabitctlError | None:
    """The domain error for a refusal of habitctl's own rules, else None."""
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    if code is None or diag is None:
        return None
    message = str(diag.message_primary or "").strip()
    field = diag.column_name
    if code == CHECK_VIOLATION:
        known = CONSTRAINTS.get(str(diag.constraint_name))
        if known is not None:
            return InvalidInput(known[1], field=known[0])
        # The triggers' own words (R3, time zone) already name the rule and no one else's rows.
        return InvalidInput(message, field=field)
    if code == "HC409":
        return Conflict(f"{message}: unlink those first", field=field)
    if code == "HC404":
        return NotFound(f"{message}: `habitctl list` shows your habits", field=field)
    if code == "HC429":
        return Conflict(message, field=field)
    return None
