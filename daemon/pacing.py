"""Send pacing: at most `rate` messages a second overall and one a second per chat.

Telegram allows about 30 messages a second per bot and one a second per chat, for all the
bot's senders together, so on PostgreSQL the slots live in the `send_slots` table and every
replica draws from them; python-telegram-bot's AIORateLimiter would pace one process only
and does not pace private chats. With SQLite there is one daemon, so slots live in memory.

A reservation reads when the bot ("global") and each chat may next send, plans the batch,
and writes back where it left them. Planning is one pass, earliest-ready chat first: a
message goes at the later of the bot's next slot and its chat's, and then moves both on, so
a message held back by the bot's rate also holds back the next one to its chat.

Both spacings carry a 10% margin: the limits are counted where the messages arrive, and
network and event-loop jitter (up to about 100 ms on a busy host) must not push two sends
closer there than the limit.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict, deque
from typing import Protocol

from sqlalchemy import Engine, text

MARGIN = 1.1
CHAT_INTERVAL = 1.0 * MARGIN
GLOBAL = "global"


class Pacer(Protocol):
    interval: float  # seconds between two messages of the bot; 0 for no limit

    def reserve(self, chat_ids: list[int], not_before: float = 0.0) -> list[float]:
        """For each message (by chat), seconds to wait from now before sending it."""
        ...


def chat_key(chat_id: int) -> str:
    return f"chat:{chat_id}"


def plan(
    chat_ids: list[int], interval: float, ready: dict[str, float]
) -> tuple[list[float], dict[str, float]]:
    """Start times for `chat_ids`, given when each key is next free (seconds from now).

    Returns the start of each message and the new next-free time of every key.
    """
    queues: dict[int, deque[int]] = defaultdict(deque)
    for index, chat in enumerate(chat_ids):
        queues[chat].append(index)
    heap = [(ready[chat_key(chat)], queue[0], chat) for chat, queue in queues.items()]
    heapq.heapify(heap)
    overall = ready.get(GLOBAL, 0.0)
    starts = [0.0] * len(chat_ids)
    after = dict(ready)
    while heap:
        chat_ready, index, chat = heapq.heappop(heap)
        start = max(overall, chat_ready)
        starts[index] = start
        overall = start + interval
        after[chat_key(chat)] = start + CHAT_INTERVAL
        queue = queues[chat]
        queue.popleft()
        if queue:
            heapq.heappush(heap, (start + CHAT_INTERVAL, queue[0], chat))
    if interval > 0:
        after[GLOBAL] = overall
    return starts, after


def _keys(chat_ids: list[int], interval: float) -> list[str]:
    keys = {chat_key(chat) for chat in chat_ids}
    if interval > 0:
        keys.add(GLOBAL)
    return sorted(keys)  # one order everywhere: no deadlocks between replicas


class MemoryPacer:
    """Slots in this process (SQLite: one daemon per database file)."""

    def __init__(self, rate: float) -> None:
        self.interval = MARGIN / rate if rate > 0 else 0.0
        self.next_at: dict[str, float] = {}

    def reserve(self, chat_ids: list[int], not_before: float = 0.0) -> list[float]:
        now = time.monotonic()
        ready = {
            key: max(self.next_at.get(key, now) - now, not_before)
            for key in _keys(chat_ids, self.interval)
        }
        starts, after = plan(chat_ids, self.interval, ready)
        self.next_at.update({key: now + offset for key, offset in after.items()})
        return starts


# One transaction per reservation, on the database's clock (`now()` is fixed within it):
# create missing keys, lock them in key order, read them, then write the plan's ends back.
_CREATE = text(
    """
    INSERT INTO send_slots (key, next_at)
    SELECT key, now() FROM unnest(CAST(:keys AS text[])) AS key ORDER BY key
    ON CONFLICT (key) DO NOTHING
    """
)
_LOCK = text(
    """
    SELECT key, EXTRACT(EPOCH FROM next_at - now()) FROM send_slots
    WHERE key = ANY(CAST(:keys AS text[])) ORDER BY key FOR UPDATE
    """
)
_MOVE = text(
    """
    UPDATE send_slots AS slot SET next_at = now() + make_interval(secs => moved.ahead)
    FROM unnest(CAST(:keys AS text[]), CAST(:aheads AS float8[])) AS moved(key, ahead)
    WHERE slot.key = moved.key
    """
)


class DatabasePacer:
    """Slots in PostgreSQL's `send_slots`, shared by every replica."""

    def __init__(self, engine: Engine, rate: float) -> None:
        self.engine = engine
        self.interval = MARGIN / rate if rate > 0 else 0.0

    def reserve(self, chat_ids: list[int], not_before: float = 0.0) -> list[float]:
        keys = _keys(chat_ids, self.interval)
        with self.engine.begin() as conn:
            conn.execute(_CREATE, {"keys": keys})
            rows = conn.execute(_LOCK, {"keys": keys}).all()
            ready = {key: max(float(offset), not_before) for key, offset in rows}
            starts, after = plan(chat_ids, self.interval, ready)
            conn.execute(_MOVE, {"keys": list(after), "aheads": list(after.values())})
        return starts
