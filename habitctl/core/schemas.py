"""The one validation layer: pydantic models for habits and accounts, with rules R1–R7.

R3 and R8 need the database and live in `habitctl.services.habits`; everything that can be
decided from the values alone is decided here, for the CLI, the HTTP API, import and the
daemon alike. `invalid_input` turns a pydantic error into a sentence naming field and rule.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from habitctl.core.text import describe, first_control
from habitctl.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: Any) -> time:
    """A 24-hour "HH:MM" local time; anything else (8am, 25:00, 7.30) is refused."""
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    match = _HHMM.match(str(value).strip())
    if not match:
        raise ValueError("time")
    return time(int(match.group(1)), int(match.group(2)))


def refuse_controls(value: Any) -> Any:
    """Text a person typed is shown back as text: no control character gets in (SPEC §6).

    Checked before whitespace is stripped, so a trailing newline is refused like any other.
    """
    char = first_control(value) if isinstance(value, str) else None
    if char is not None:
        raise PydanticCustomError(
            "control_character",
            "contains the control character {char}",
            {"char": describe(char)},
        )
    return value


Text255 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    BeforeValidator(refuse_controls),
]
LocalTime = Annotated[time, BeforeValidator(parse_hhmm)]
Periodicity = Annotated[int, Field(ge=1, le=7, strict=False)]
Duration = Annotated[int, Field(ge=1, le=120, strict=False)]

FIELD_MESSAGES = {
    "action": "action must be 1 to 255 characters and not blank",
    "place": "place must be 1 to 255 characters and not blank",
    "time": "time must be a 24-hour local time HH:MM, such as 07:30 or 21:05",
    "periodicity_days": "periodicity must be 1 to 7 days: at least once a week (R5)",
    "duration_seconds": "duration must be 1 to 120 seconds: two minutes at most (R2)",
    "reward": "reward must be 1 to 255 characters and not blank",
    "linked_habit_id": "linked habit must be a habit id (a positive whole number)",
    "username": "username must be 3 to 32 characters of a-z, 0-9 and _",
    "password": "password must be 8 to 1024 characters long",
}

R1 = "a habit cannot have both a reward and a linked habit (R1): keep one of them"
R4 = "a pleasant habit has neither a reward nor a linked habit (R4)"
R6 = (
    "a useful habit needs exactly one of a reward (--reward) or a linked pleasant habit "
    "(--linked) (R6)"
)


class HabitCreate(BaseModel):
    """A complete, valid habit as its owner describes it."""

    model_config = ConfigDict(extra="forbid")

    action: Text255
    place: Text255
    time: LocalTime
    periodicity_days: Periodicity = 1
    duration_seconds: Duration = 120
    is_pleasant: bool = False
    reward: Text255 | None = None
    linked_habit_id: Annotated[int, Field(gt=0)] | None = None
    is_public: bool = False

    @model_validator(mode="after")
    def _reward_or_link(self) -> Self:
        if self.reward is not None and self.linked_habit_id is not None:
            raise InvalidInput(R1, field="reward")
        if self.is_pleasant and (self.reward is not None or self.linked_habit_id is not None):
            raise InvalidInput(R4, field="reward" if self.reward else "linked_habit_id")
        if not self.is_pleasant and self.reward is None and self.linked_habit_id is None:
            raise InvalidInput(R6, field="reward")
        return self


class HabitUpdate(BaseModel):
    """An edit: only the fields set are changed; None clears reward or link."""

    model_config = ConfigDict(extra="forbid")

    action: Text255 | None = None
    place: Text255 | None = None
    time: LocalTime | None = None
    periodicity_days: Periodicity | None = None
    duration_seconds: Duration | None = None
    is_pleasant: bool | None = None
    reward: Text255 | None = None
    linked_habit_id: Annotated[int, Field(gt=0)] | None = None
    is_public: bool | None = None

    def merged_with(self, current: HabitCreate) -> HabitCreate:
        """The habit after this edit, validated as a whole (R7)."""
        values = current.model_dump()
        values.update(self.model_dump(exclude_unset=True))
        return validate(HabitCreate, values)


class HabitView(BaseModel):
    """A habit as `--json` prints it (SPEC §6)."""

    id: int
    owner: str
    action: str
    place: str
    time: str
    timezone: str
    periodicity_days: int
    duration_seconds: int
    is_pleasant: bool
    reward: str | None
    linked_habit_id: int | None
    is_public: bool
    next_reminder_at: datetime | None
    created_at: datetime
    updated_at: datetime


def normalise_username(value: Any) -> Any:
    """Usernames are case-insensitive: compare and store them lower-case."""
    return value.strip().lower() if isinstance(value, str) else value


# Normalised before the pattern is checked (StringConstraints checks the pattern first).
Username = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9_]{3,32}$"),
    BeforeValidator(normalise_username),
]


class AccountCreate(BaseModel):
    username: Username
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]
    timezone: str = "UTC"


def invalid_input(exc: ValidationError) -> InvalidInput:
    """The first problem of a pydantic error as one sentence naming its field."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else None
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, InvalidInput):
        return original
    message = FIELD_MESSAGES.get(field or "", error["msg"])
    if error["type"] == "control_character":
        message = (
            f"{field} {error['msg']}: control characters (tabs, new lines, escape "
            "sequences) cannot be part of a habit; write it as plain text"
        )
    elif error["type"] == "extra_forbidden":
        message = f"unknown field {field!r}"
    return InvalidInput(message, field=field)


def validate(model: type[M], values: dict[str, Any]) -> M:
    """`model.model_validate(values)`, with errors as InvalidInput."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_input(exc) from exc
