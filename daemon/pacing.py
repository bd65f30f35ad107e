"""Send pacing: at most `rate` messages a second overall and one a second per chat.

Telegram allows about 30 messages a second per bot and one a second per chat, for all the
bot's senders together, so on PostgreSQL the slots live in the `send_slots` table and every
replica draws from them; python-telegram-bot's AIORateLimiter would pace one process only
and does not pace private chats. With SQLite there is one daemon, so slots live in memory.

A reservation hands out start times: the global key advances by 1/rate per message, each
chat's key by one second per message to it. A message starts at the later of its two slots.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Protocol

from sqlalchemy import Engine, text

CHAT_INTERVAL = 1.0


class Pacer(Protocol):
    def reserve(self, chat_ids: list[int], not_before: float = 0.0) -> list[float]:
        """For each message (by chat), seconds to wait from now before sending it."""
        ...


def _plan(chat_ids: list[int], interval: float, starts: dict[str, float]) -> list[float]:
    """Spread messages over the reserved slots; `starts` are seconds from now per key."""
    seen: dict[int, int] = defaultdict(int)
    delays = []
    for index, chat_id in enumerate(chat_ids):
        overall = starts.get("global", 0.0) + index * interval
        own = starts[f"chat:{chat_id}"] + seen[chat_id] * CHAT_INTERVAL
        seen[chat_id] += 1
        delays.append(max(overall, own, 0.0))
    return delays


def _spans(chat_ids: list[int], interval: float) -> dict[str, float]:
    spans = {f"chat:{chat}": count * CHAT_INTERVAL for chat, count in Counter(chat_ids).items()}
    if interval > 0:
        spans["global"] = len(chat_ids) * interval
    return spans


class MemoryPacer:
    """Slots in this process (SQLite: one daemon per database file)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at: dict[str, float] = {}

    def reserve(self, chat_ids: list[int], not_before: float = 0.0) -> list[float]:
        now = time.monotonic() + not_before
        starts = {}
        for key, span in _spans(chat_ids, self.interval).items():
            start = max(self.next_at.get(key, now), now)
            self.next_at[key] = start + span
            starts[key] = start - time.monotonic()
        return _plan(chat_ids, self.interval, starts)


# One statement per reservation: keys locked in a fixed order (no deadlocks between
# replicas), the database's clock, and the start of each key's slots returned.
_RESERVE = text(
    """
    WITH wanted(key, span) AS (
        SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:spans AS float8[]))
    )
    INSERT INTO send_slots AS slot (key, next_at)
    SELECT key, now() + make_interval(secs => :not_before + span) FROM wanted ORDER BY key
    ON CONFLICT (key) DO UPDATE
        SET next_at = greatest(slot.next_at, now() + make_interval(secs => :not_before))
                      + (EXCLUDED.next_at - now() - make_interval(secs => :not_before))
    RETURNING slot.key,
              EXTRACT(EPOCH FROM slot.next_at - now())
              - (SELECT span FROM wanted WHERE wanted.key = slot.key)
    """
)


class DatabasePacer:
    """Slots in PostgreSQL's `send_slots`, shared by every replica."""

    def __init__(self, engine: Engine, rate: float) -> None:
        self.engine = engine
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def reserve(self, chat_ids: list[int], not_before: float = 0.0) -> list[float]:
        spans = _spans(chat_ids, self.interval)
        keys = sorted(spans)
        with self.engine.begin() as conn:
            rows = conn.execute(
                _RESERVE,
                {"keys": keys, "spans": [spans[k] for k in keys], "not_before": not_before},
            ).all()
        return _plan(chat_ids, self.interval, {key: float(start) for key, start in rows})
