"""Bodies the endpoint answers besides habits: errors and health, for OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from habitctl.core.public import HabitPage, HabitPublic


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    field: str | None


class ErrorBody(BaseModel):
    """Every error: the same shape `habitctl --json` prints on standard error."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "unavailable"]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        404: "No public habit has this id (private and missing ids answer alike).",
        422: "A parameter is invalid.",
        503: "The database is unavailable.",
    }
    return {code: {"model": ErrorBody, "description": descriptions[code]} for code in statuses}


PAGE_RESPONSES = _errors(422, 503)
HABIT_RESPONSES = _errors(404, 422, 503)
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Health, "description": "The database does not answer."}
}

__all__ = [
    "HABIT_RESPONSES",
    "HEALTH_RESPONSES",
    "PAGE_RESPONSES",
    "ErrorBody",
    "HabitPage",
    "HabitPublic",
    "Health",
]
