"""The routes: public habits, one by id, and the health check.

Route functions are plain `def`: FastAPI runs them in its threadpool, each borrowing one
pooled connection for its one query (`PublicHabits`: compiled once, a raw DBAPI cursor). The
body is serialised straight from the service's dicts; `response_model` only documents it
(FastAPI passes a returned Response through).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from habitctl.api.errors import json_response
from habitctl.api.schemas import (
    HABIT_RESPONSES,
    HEALTH_RESPONSES,
    PAGE_RESPONSES,
    HabitPage,
    HabitPublic,
    Health,
)
from habitctl.core.public import MAX_ID, decode_cursor, encode_cursor
from habitctl.errors import StorageError
from habitctl.services.public import PublicHabits
from habitctl.storage.engine import translate_db_errors

logger = logging.getLogger("habitctl.api")

Limit = Annotated[int, Query(ge=1, le=100, description="Habits per page, 1–100.")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page, unchanged; omit for the first page.",
    ),
]
HabitIdPath = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]


def public_router(engine: Engine) -> APIRouter:
    router = APIRouter()
    public = PublicHabits(engine)

    @router.get(
        "/public/habits",
        response_model=HabitPage,
        responses=PAGE_RESPONSES,
        summary="Public habits of every user, in id order",
    )
    def list_public_habits(limit: Limit = 20, cursor: Cursor = None) -> Response:
        after_id = 0 if cursor is None else decode_cursor(cursor)
        with translate_db_errors(engine):
            items, more = public.page(after_id=after_id, limit=limit)
        next_cursor = encode_cursor(items[-1]["id"]) if more else None
        return json_response({"items": items, "next_cursor": next_cursor})

    @router.get(
        "/public/habits/{habit_id}",
        response_model=HabitPublic,
        responses=HABIT_RESPONSES,
        summary="One public habit",
    )
    def get_public_habit(habit_id: HabitIdPath) -> Response:
        with translate_db_errors(engine):
            item = public.habit(habit_id)
        return json_response(item)

    @router.get(
        "/healthz",
        response_model=Health,
        responses=HEALTH_RESPONSES,
        summary="Whether the database answers",
    )
    def healthz() -> Response:
        try:
            with translate_db_errors(engine), engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (StorageError, DBAPIError) as exc:
            logger.warning("health check failed: %s", getattr(exc, "message", exc))
            return json_response({"status": "unavailable"}, 503)
        return json_response({"status": "ok"})

    return router
