"""Public habits for the HTTP endpoint: two queries compiled once, plain dicts out.

The habit, its owner's username and zone, and its linked habit (only when that one is public
too) come back in one statement. Columns are named one by one so nothing private is ever
read, let alone returned. The page query says `WHERE habits.is_public` literally: that is the
predicate of the partial index `ix_habits_public_id`, which keyset pagination walks.

The statements are SQLAlchemy Core, compiled once per engine and run on a DBAPI cursor of
the engine's pool: per request nothing is built, cache-keyed or compiled and no Result is made.
That per-execution machinery cost more CPU (0.3–0.5 ms) than everything else in a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

from sqlalchemy import Dialect, Engine, Select, and_, bindparam, select

from habitctl.errors import NotFound
from habitctl.storage.engine import pooled_cursor
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
# One row beyond the page tells whether there is a next page without a COUNT.
_PAGE = (
    _PUBLIC.where(_habits.c.id > bindparam("after_id"))
    .order_by(_habits.c.id)
    .limit(bindparam("rows"))
)
_ONE = _PUBLIC.where(_habits.c.id == bindparam("habit_id"))


class _CompiledQuery:
    """A statement rendered once for a dialect, with its parameters in the driver's style."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._order = compiled.positiontup  # None for named styles (psycopg2's pyformat)
        # Literals the dialect turned into parameters (SQLite's `is_public = ?` for True).
        self._fixed = {key: bind.value for key, bind in compiled.binds.items() if not bind.required}

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self._fixed, **values} if self._fixed else values
        return merged if self._order is None else [merged[name] for name in self._order]


def _clock(value: time | str) -> str:
    # SQLite hands the raw stored text ("07:30:00.000000") to a DBAPI cursor.
    return value.strftime("%H:%M") if isinstance(value, time) else value[:5]


def _item(row: Sequence[Any]) -> dict[str, Any]:
    """One row as `habitctl.core.public.HabitPublic` describes it (raw driver values in)."""
    habit_id, owner, action, place, at, zone, days, seconds, pleasant, reward, link, linked = row
    return {
        "id": habit_id,
        "owner": owner,
        "action": action,
        "place": place,
        "time": _clock(at),
        "timezone": zone,
        "periodicity_days": days,
        "duration_seconds": seconds,
        "is_pleasant": bool(pleasant),
        "reward": reward,
        "linked_habit": None if link is None else {"id": link, "action": linked},
    }


class PublicHabits:
    """The endpoint's reads over one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._page = _CompiledQuery(_PAGE, engine.dialect)
        self._one = _CompiledQuery(_ONE, engine.dialect)

    def _rows(self, query: _CompiledQuery, values: Mapping[str, Any]) -> list[Sequence[Any]]:
        with pooled_cursor(self._engine) as cursor:
            cursor.execute(query.sql, query.parameters(values))
            return list(cursor.fetchall())

    def page(self, *, after_id: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` public habits with ids above `after_id`, and whether more follow."""
        rows = self._rows(self._page, {"after_id": after_id, "rows": limit + 1})
        return [_item(row) for row in rows[:limit]], len(rows) > limit

    def habit(self, habit_id: int) -> dict[str, Any]:
        """A public habit; a private one is NotFound exactly like a missing id."""
        rows = self._rows(self._one, {"habit_id": habit_id})
        if not rows:
            raise NotFound("no public habit has this id", field="id")
        return _item(rows[0])
