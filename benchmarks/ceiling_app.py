"""The HTTP ceiling: a bare Starlette route running the same keyset query on an asyncpg pool.

Same query, same item shape and cursor as `GET /public/habits` of `habitctl serve`, with no
validation, no ORM and no threadpool: what one Python process can serve at best.

    BENCH_PG_DSN=postgresql://… uvicorn benchmarks.ceiling_app:app --port 8002
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

QUERY = """
SELECT h.id, u.username, h.action, h.place, h.time, u.timezone, h.periodicity_days,
       h.duration_seconds, h.is_pleasant, h.reward, l.id AS linked_id, l.action AS linked_action
FROM habits AS h
JOIN users AS u ON u.id = h.user_id
LEFT JOIN habits AS l ON l.id = h.linked_habit_id AND l.is_public
WHERE h.is_public AND h.id > $1
ORDER BY h.id
LIMIT $2
"""

pool: asyncpg.Pool | None = None


def _cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())


async def public_habits(request: Request) -> Response:
    limit = min(100, max(1, int(request.query_params.get("limit", "20"))))
    after = _after(request.query_params.get("cursor"))
    assert pool is not None
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERY, after, limit + 1)
    items: list[dict[str, Any]] = [
        {
            "id": r["id"],
            "owner": r["username"],
            "action": r["action"],
            "place": r["place"],
            "time": r["time"].strftime("%H:%M"),
            "timezone": r["timezone"],
            "periodicity_days": r["periodicity_days"],
            "duration_seconds": r["duration_seconds"],
            "is_pleasant": r["is_pleasant"],
            "reward": r["reward"],
            "linked_habit": (
                None
                if r["linked_id"] is None
                else {"id": r["linked_id"], "action": r["linked_action"]}
            ),
        }
        for r in rows[:limit]
    ]
    next_cursor = _cursor(items[-1]["id"]) if len(rows) > limit else None
    body = json.dumps({"items": items, "next_cursor": next_cursor}, ensure_ascii=False)
    return Response(body.encode(), media_type="application/json")


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(os.environ["BENCH_PG_DSN"], min_size=4, max_size=32)
    try:
        yield
    finally:
        await pool.close()


app = Starlette(routes=[Route("/public/habits", public_habits)], lifespan=lifespan)
