"""Send pacing: at most `rate` messages in any sliding second for the bot, one a second per chat.

Telegram counts where messages arrive, for all the bot's senders together, so on PostgreSQL
the slots live in `send_slots` and every replica takes from them (python-telegram-bot's
AIORateLimiter paces one process and no private chat). Each message takes its own slot just
before it goes: one short transaction moves the bot's next slot on by exactly one spacing
and the chat's by a second, and hands back when this message may start. A replica holds at
most OUTSTANDING slots it has not used yet (`gate`), so a replica that dies holds the
others back by that many spacings at most.

The spacing is `(1 + JITTER) / rate`: a message arrives up to JITTER seconds after its slot
(waking up, the request on its way), and with that spacing no window of one second can hold
more than `rate` arrivals. A sender that wakes later than LATE gives its slot up and takes a
new one rather than bunch up with the next. With JITTER = 0.04 the pace is 96 % of `rate`.

A 429 pushes the bot's next slot past `retry_after` for every replica. A chat marked
unreachable (403/400) is refused its slot, in every replica, from that moment on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import DBAPIError

JITTER = 0.04  # seconds a message may arrive after its slot
LATE = 0.02  # a sender waking later than this after its slot takes a new one
CHAT_INTERVAL = 1.0 + JITTER
OUTSTANDING = 1  # slots a replica may hold before using them
GLOBAL = "global"


def chat_key(chat_id: int) -> str:
    return f"chat:{chat_id}"


@dataclass(frozen=True)
class Decision:
    """What the slot table says: start in `start` seconds, or wait `chat_wait` for the chat,
    or never (the chat is unreachable)."""

    start: float | None = None
    chat_wait: float | None = None
    refused: bool = False


def decide(global_ready: float, chat_ready: float, interval: float) -> tuple[Decision, bool]:
    """Given seconds until the bot and the chat are free: the decision, and whether it takes
    the slots (a message waiting a while for its chat does not hold the bot's slot)."""
    global_ready, chat_ready = max(0.0, global_ready), max(0.0, chat_ready)
    if chat_ready > global_ready + interval:
        return Decision(chat_wait=chat_ready - interval), False
    return Decision(start=max(global_ready, chat_ready)), True


class SlotStore(Protocol):
    def take(self, chat_id: int, interval: float) -> Decision: ...

    def pause(self, seconds: float) -> None: ...

    def refuse(self, chat_id: int) -> None: ...


class MemorySlots:
    """Slots in this process (SQLite: one daemon per database file)."""

    def __init__(self) -> None:
        self.next_at: dict[str, float] = {}
        self.refused: set[int] = set()

    def take(self, chat_id: int, interval: float) -> Decision:
        if chat_id in self.refused:
            return Decision(refused=True)
        now = time.monotonic()
        key = chat_key(chat_id)
        decision, taken = decide(
            self.next_at.get(GLOBAL, now) - now, self.next_at.get(key, now) - now, interval
        )
        if taken and decision.start is not None:
            self.next_at[GLOBAL] = now + decision.start + interval
            self.next_at[key] = now + decision.start + CHAT_INTERVAL
        return decision

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        self.next_at[GLOBAL] = max(self.next_at.get(GLOBAL, until), until)

    def refuse(self, chat_id: int) -> None:
        self.refused.add(chat_id)


# One statement per slot, on the database's clock: lock the bot's and the chat's rows (in
# key order: no deadlock between replicas), read how far ahead each is, and move both on
# when this message takes its slot. The decision is `decide`'s, spelt in SQL so that a slot
# costs one round trip.
_CREATE = text(
    """
    INSERT INTO send_slots (key, next_at) VALUES (:global, now()), (:chat, now())
    ON CONFLICT (key) DO NOTHING
    """
)
_TAKE = text(
    """
    WITH locked AS (
        SELECT key, next_at FROM send_slots
        WHERE key IN (:global, :chat) ORDER BY key FOR UPDATE
    ), ready AS (
        SELECT
            GREATEST(0, EXTRACT(EPOCH FROM max(next_at) FILTER (WHERE key = :global) - now()))
                AS bot,
            GREATEST(0, EXTRACT(EPOCH FROM max(next_at) FILTER (WHERE key = :chat) - now()))
                AS chat,
            EXISTS (SELECT FROM user_contacts WHERE telegram_chat_id = :chat_id
                    AND telegram_unreachable_at IS NOT NULL) AS refused
        FROM locked
    ), decided AS (
        SELECT bot, chat, refused,
               CASE WHEN refused OR chat > bot + :interval THEN NULL
                    ELSE GREATEST(bot, chat) END AS start
        FROM ready
    ), moved AS (
        UPDATE send_slots AS slot SET next_at = now() + make_interval(secs => decided.start
            + CASE slot.key WHEN :global THEN :interval ELSE :chat_interval END)
        FROM decided
        WHERE decided.start IS NOT NULL AND slot.key IN (:global, :chat)
        RETURNING 1
    )
    SELECT refused, start, chat - :interval AS chat_wait, (SELECT count(*) FROM moved)
    FROM decided
    """
)
_PAUSE = text(
    """
    UPDATE send_slots SET next_at = GREATEST(next_at, now() + make_interval(secs => :seconds))
    WHERE key = :global
    """
)


class DatabaseSlots:
    """Slots in PostgreSQL's `send_slots`, shared by every replica.

    One connection of its own, in autocommit: a slot is one statement, one round trip (no
    pool check-out, no ping, no BEGIN/COMMIT).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.known: set[str] = set()
        self.connection: Connection | None = None

    def _execute(self, statement: TextClause, params: dict[str, Any]) -> Any:
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = self.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                return self.connection.execute(statement, params)
            except DBAPIError:
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(DBAPIError):
                self.connection.close()
            self.connection = None

    def take(self, chat_id: int, interval: float) -> Decision:
        keys = {"global": GLOBAL, "chat": chat_key(chat_id)}
        if keys["chat"] not in self.known:
            self._execute(_CREATE, keys)
            self.known.add(keys["chat"])
        refused, start, chat_wait, _ = self._execute(
            _TAKE,
            keys | {"chat_id": chat_id, "interval": interval, "chat_interval": CHAT_INTERVAL},
        ).one()
        if refused:
            return Decision(refused=True)
        if start is None:
            return Decision(chat_wait=float(chat_wait))
        return Decision(start=float(start))

    def pause(self, seconds: float) -> None:
        self._execute(_PAUSE, {"global": GLOBAL, "seconds": seconds})

    def refuse(self, chat_id: int) -> None:
        """Nothing to store: `take` reads the chat's unreachable mark from user_contacts."""


class Pacer:
    """Waits for a message's slot; `acquire` is False when the chat must not be sent to."""

    def __init__(self, store: SlotStore, rate: float) -> None:
        self.store = store
        self.interval = (1.0 + JITTER) / rate if rate > 0 else 0.0  # 0: per chat only
        # At most OUTSTANDING slots taken and not yet used, per replica: enough to keep the
        # pace while one slot's round trip is under way, few enough that a replica that dies
        # holds the others back by a few spacings only.
        self.gate = asyncio.Semaphore(OUTSTANDING)
        self.refused: set[int] = set()
        self.late = 0  # slots given up because this process woke too late for them
        self.paused_until = 0.0  # monotonic: a 429 this process received holds until then

    async def acquire(self, chat_id: int) -> bool:
        while chat_id not in self.refused:
            async with self.gate:
                asked = time.monotonic()
                decision = await asyncio.to_thread(self.store.take, chat_id, self.interval)
                if decision.refused:
                    self.refused.add(chat_id)
                    return False
                if decision.start is not None:
                    slot = asked + decision.start
                    await asyncio.sleep(max(0.0, slot - time.monotonic()))
                    # Later than LATE after the slot (an oversleep, or a slow answer when the
                    # slot was "now"), this message could bunch with the next slot's: take
                    # a new one. With no bot rate (interval 0) only the chat's spacing counts.
                    if time.monotonic() < self.paused_until:
                        continue  # a 429 came while this slot was waiting: it is void
                    if self.interval == 0 or time.monotonic() - slot <= LATE:
                        return chat_id not in self.refused
                    self.late += 1
                    continue
            await asyncio.sleep(decision.chat_wait or 0.0)
        return False

    def pause(self, seconds: float) -> None:
        """A 429: no message of the bot before `seconds` have passed, in any replica."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        self.store.pause(seconds)

    def refuse(self, chat_id: int) -> None:
        """A 403/400: whatever is planned for that chat is dropped from now on."""
        self.refused.add(chat_id)
        self.store.refuse(chat_id)
