"""What the public HTTP endpoint shows of a habit, and its opaque page cursor.

`HabitPublic` is the published shape: exactly the fields SPEC §8 allows, nothing private.
The API documents it in OpenAPI; the service builds matching plain dicts, so a page is not
validated row by row on its way out (that is where the time would go).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from habitctl.errors import InvalidInput

MAX_ID = 2**31 - 1  # ids are 32-bit integers on both backends
HabitId = Annotated[int, Field(ge=1, le=MAX_ID)]


class LinkedHabitPublic(BaseModel):
    """The pleasant habit done right after, when it is public too."""

    model_config = ConfigDict(extra="forbid")

    id: HabitId
    action: str


class HabitPublic(BaseModel):
    """A public habit as anybody may see it."""

    model_config = ConfigDict(extra="forbid")

    id: HabitId
    owner: str = Field(description="The owner's username.")
    action: str
    place: str
    time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local HH:MM.")
    timezone: str = Field(description="The owner's IANA time zone, in which `time` is local.")
    periodicity_days: int = Field(ge=1, le=7)
    duration_seconds: int = Field(ge=1, le=120)
    is_pleasant: bool
    reward: str | None
    linked_habit: LinkedHabitPublic | None = Field(
        description="The linked pleasant habit, or null when there is none or it is private."
    )


class HabitPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[HabitPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor of ours stands for; anything we did not issue is InvalidInput."""
    bad = InvalidInput(
        "cursor is not one this endpoint issued: pass `next_cursor` from the previous page "
        "unchanged, or leave it out for the first page",
        field="cursor",
    )
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    # Only the canonical spelling is accepted, so one page has exactly one cursor.
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID or encode_cursor(int(text)) != cursor:
        raise bad
    return int(text)
