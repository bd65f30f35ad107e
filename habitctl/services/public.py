"""Public habits for the HTTP endpoint: one Core query per request, plain dicts out.

The habit, its owner's username and zone, and its linked habit (only when that one is public
too) come back in one statement. Columns are named one by one so nothing private is ever
read, let alone returned. The page query says `WHERE habits.is_public` literally: that is the
predicate of the partial index `ix_habits_public_id`, which keyset pagination walks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, and_, select

from habitctl.errors import NotFound
from habitctl.storage.models import Habit, User

_habits = Habit.__table__
_owners = User.__table__
_linked = _habits.alias("linked")

_PUBLIC = (
    select(
        _habits.c.id,
        _owners.c.username,
        _habits.c.action,
        _habits.c.place,
        _habits.c.time,
        _owners.c.timezone,
        _habits.c.periodicity_days,
        _habits.c.duration_seconds,
        _habits.c.is_pleasant,
        _habits.c.reward,
        _linked.c.id.label("linked_id"),
        _linked.c.action.label("linked_action"),
    )
    .select_from(
        _habits.join(_owners, _owners.c.id == _habits.c.user_id).outerjoin(
            _linked, and_(_linked.c.id == _habits.c.linked_habit_id, _linked.c.is_public)
        )
    )
    .where(_habits.c.is_public)
)


def _item(row: Row[*tuple[Any, ...]]) -> dict[str, Any]:
    """One row as `habitctl.core.public.HabitPublic` describes it."""
    return {
        "id": row.id,
        "owner": row.username,
        "action": row.action,
        "place": row.place,
        "time": row.time.strftime("%H:%M"),
        "timezone": row.timezone,
        "periodicity_days": row.periodicity_days,
        "duration_seconds": row.duration_seconds,
        "is_pleasant": row.is_pleasant,
        "reward": row.reward,
        "linked_habit": (
            None if row.linked_id is None else {"id": row.linked_id, "action": row.linked_action}
        ),
    }


def public_page(
    conn: Connection, *, after_id: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` public habits with ids above `after_id`, and whether more follow."""
    query: Select[Any] = _PUBLIC.where(_habits.c.id > after_id).order_by(_habits.c.id)
    # One row beyond the page tells whether there is a next page without a COUNT.
    rows = conn.execute(query.limit(limit + 1)).all()
    return [_item(row) for row in rows[:limit]], len(rows) > limit


def public_habit(conn: Connection, habit_id: int) -> dict[str, Any]:
    """A public habit; a private one is NotFound exactly like a missing id."""
    row = conn.execute(_PUBLIC.where(_habits.c.id == habit_id)).first()
    if row is None:
        raise NotFound("no public habit has this id", field="id")
    return _item(row)
