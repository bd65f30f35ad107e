"""Send pacing: at most `rate` messages in any sliding second for the bot, one a second per chat.

Telegram counts where messages arrive, for all the bot's senders together, so on PostgreSQL
the slots live in `send_slots` and every replica takes from them (python-telegram-bot's
AIORateLimiter paces one process and no private chat).

The bot's limit holds exactly, however late a message arrives: the bot has `rate` permits
(rows `permit:0` … in `send_slots`) and a message holds one from just before it starts until
one second after its answer came back. A message arrives between those two moments, so every
message that arrives within the second before another's arrival still holds its permit at
that moment: no second sees more than `rate` arrivals. Within that, messages take the bot's
next slot, `1 / rate` apart, so the permits are used evenly and the pace is
`rate / (1 + answer time)`: 99 % of the rate with answers in 10 ms. There is no fixed margin.
A permit whose sender died before the answer is held for HELD seconds at most.

Each message takes its slots in one short statement (the bot's slot, a permit, the chat's
slot), and gives its permit back in another once answered. A replica holds at most
OUTSTANDING slots it has not used yet (`gate`), so a replica that dies holds the others back
by that many spacings at most. A chat's next message starts CHAT_INTERVAL after its last.

Without a bot rate the chat's second is the only limit, and the messages waiting for a slot
take theirs together: one statement for all of them (`ChatTakes`), however many there are.

A 429 pushes the bot's next slot past `retry_after` for every replica. A chat marked
unreachable (403/400) is refused its slot, in every replica, from that moment on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

CHAT_INTERVAL = 1.04  # a second, and the time a message may take to arrive
HELD = 30.0  # seconds a permit stays taken when no answer is reported (send timeouts: 5 s)
BUSY = HELD / 2  # a permit further ahead than this is held by a message not yet answered
POLL = 0.02  # seconds between looks while every permit is held by a message in flight
OUTSTANDING = 1  # slots a replica may hold before using them
GLOBAL = "global"


def chat_key(chat_id: int) -> str:
    return f"chat:{chat_id}"


def permit_keys(rate: float) -> list[str]:
    """The bot's permits: one per message allowed in a second (none without a bot rate)."""
    return [f"permit:{n}" for n in range(max(1, int(rate)))] if rate > 0 else []


@dataclass(frozen=True)
class Decision:
    """What the slot table says: start in `start` seconds holding `permit`, or wait
    `chat_wait` for the chat, or `busy` (every permit is in flight), or never (the chat is
    unreachable)."""

    start: float | None = None
    permit: str | None = None
    chat_wait: float | None = None
    busy: bool = False
    refused: bool = False


def decide(
    bot_ready: float, chat_ready: float, permit_ready: float, interval: float
) -> tuple[Decision, bool]:
    """Given seconds until the bot's slot, the chat and the earliest permit are free: the
    decision, and whether it takes the slots (a message waiting a while for its chat, or for
    a permit still in flight, holds nothing)."""
    bot_ready, chat_ready, permit_ready = (
        max(0.0, t) for t in (bot_ready, chat_ready, permit_ready)
    )
    if permit_ready > BUSY:
        return Decision(busy=True), False
    ready = max(bot_ready, permit_ready)
    if chat_ready > ready + interval:
        return Decision(chat_wait=chat_ready - interval), False
    return Decision(start=max(ready, chat_ready)), True


class SlotStore(Protocol):
    def take(self, chat_id: int, interval: float, permits: list[str]) -> Decision: ...

    def take_chats(self, chat_ids: list[int]) -> list[Decision]: ...

    def give_back(self, permit: str) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def refuse(self, chat_id: int) -> None: ...


class MemorySlots:
    """Slots in this process (SQLite: one daemon per database file)."""

    def __init__(self) -> None:
        self.next_at: dict[str, float] = {}
        self.refused: set[int] = set()

    def take(self, chat_id: int, interval: float, permits: list[str]) -> Decision:
        if chat_id in self.refused:
            return Decision(refused=True)
        now = time.monotonic()
        key = chat_key(chat_id)
        permit = min(permits, key=lambda k: (self.next_at.get(k, now), k)) if permits else None
        decision, taken = decide(
            self.next_at.get(GLOBAL, now) - now,
            self.next_at.get(key, now) - now,
            self.next_at.get(permit, now) - now if permit else 0.0,
            interval,
        )
        if not taken or decision.start is None:
            return decision
        self.next_at[GLOBAL] = now + decision.start + interval
        self.next_at[key] = now + decision.start + CHAT_INTERVAL
        if permit is not None:
            self.next_at[permit] = now + decision.start + HELD
        return Decision(start=decision.start, permit=permit)

    def take_chats(self, chat_ids: list[int]) -> list[Decision]:
        return [self.take(chat_id, 0.0, []) for chat_id in chat_ids]

    def give_back(self, permit: str) -> None:
        self.next_at[permit] = time.monotonic() + 1.0

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        self.next_at[GLOBAL] = max(self.next_at.get(GLOBAL, until), until)

    def refuse(self, chat_id: int) -> None:
        self.refused.add(chat_id)


class Prepared:
    """A statement PostgreSQL plans once per connection (`PREPARE`) and then only runs
    (`EXECUTE`): planning the slot statement took longer than running it (0.45–1.9 ms against
    0.33 ms), for every message. Written with `:name` parameters, each given its SQL type."""

    def __init__(self, name: str, sql: str, **types: str) -> None:
        names = list(dict.fromkeys(_PARAMETER.findall(sql)))
        if set(names) != set(types):
            raise ValueError(f"{name}: parameters {sorted(names)}, types {sorted(types)}")
        number = {parameter: n for n, parameter in enumerate(names, start=1)}
        body = _PARAMETER.sub(lambda found: f"${number[found[1]]}", sql)
        self.prepare = f"PREPARE {name} ({', '.join(types[n] for n in names)}) AS {body}"
        self.execute = f"EXECUTE {name} ({', '.join(f'%({n})s' for n in names)})"


_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")

# One statement per message, on the database's clock: lock the bot's and the chat's rows (in
# key order: no deadlock between replicas) and the permit free soonest, read how far ahead
# each is, and move them on when this message takes its slot. The decision is `decide`'s,
# spelt in SQL so that a message's slots cost one round trip.
_CREATE = Prepared(
    "habitctl_create_slots",
    """
    INSERT INTO send_slots (key, next_at) SELECT unnest(CAST(:keys AS text[])), now()
    ON CONFLICT (key) DO NOTHING
    """,
    keys="text[]",
)
_TAKE = Prepared(
    "habitctl_take_slot",
    """
    WITH locked AS (
        SELECT key, next_at FROM send_slots
        WHERE key IN (:global, :chat) ORDER BY key FOR UPDATE
    ), permit AS (
        SELECT key, next_at FROM send_slots
        WHERE key = ANY(:permits) ORDER BY next_at, key LIMIT 1 FOR UPDATE
    ), ready AS (
        SELECT
            GREATEST(0, EXTRACT(EPOCH FROM max(next_at) FILTER (WHERE key = :global) - now()))
                AS bot,
            GREATEST(0, EXTRACT(EPOCH FROM max(next_at) FILTER (WHERE key = :chat) - now()))
                AS chat,
            COALESCE(GREATEST(0, EXTRACT(EPOCH FROM (SELECT next_at FROM permit) - now())), 0)
                AS permit,
            (SELECT key FROM permit) AS permit_key,
            EXISTS (SELECT FROM user_contacts WHERE telegram_chat_id = :chat_id
                    AND telegram_unreachable_at IS NOT NULL) AS refused
        FROM locked
    ), decided AS (
        SELECT bot, chat, permit, permit_key, refused,
               CASE WHEN refused OR permit > :busy
                         OR chat > GREATEST(bot, permit) + :interval THEN NULL
                    ELSE GREATEST(bot, chat, permit) END AS start
        FROM ready
    ), moved AS (
        UPDATE send_slots AS slot SET next_at = now() + make_interval(secs => decided.start
            + CASE slot.key WHEN :global THEN :interval WHEN :chat THEN :chat_interval
                            ELSE :held END)
        FROM decided
        WHERE decided.start IS NOT NULL AND slot.key IN (:global, :chat, decided.permit_key)
        RETURNING 1
    )
    SELECT refused, start, permit_key, permit > :busy AS busy,
           chat - :interval AS chat_wait, (SELECT count(*) FROM moved)
    FROM decided
    """,
    **{"global": "text"},
    chat="text",
    chat_id="bigint",
    permits="text[]",
    interval="float8",
    chat_interval="float8",
    held="float8",
    busy="float8",
)
# No bot rate: the chats' slots only (and a 429's pause), for many messages at once (distinct
# chats, locked in key order).
_TAKE_CHATS = Prepared(
    "habitctl_take_chats",
    """
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:chat_ids AS bigint[]))
            AS wanted (key, chat_id)
    ), locked AS (
        SELECT key, next_at FROM send_slots WHERE key = ANY(:keys) ORDER BY key FOR UPDATE
    ), paused AS (  -- a 429 holds every chat
        SELECT COALESCE(max(next_at), now()) AS until FROM send_slots WHERE key = :global
    ), decided AS (
        SELECT wanted.key,
               GREATEST(0, EXTRACT(EPOCH FROM GREATEST(locked.next_at, paused.until) - now()))
                   AS chat_wait,
               EXISTS (SELECT FROM user_contacts WHERE telegram_chat_id = wanted.chat_id
                       AND telegram_unreachable_at IS NOT NULL) AS refused
        FROM wanted JOIN locked USING (key) CROSS JOIN paused
    ), moved AS (
        UPDATE send_slots AS slot
        SET next_at = now() + make_interval(secs => :chat_interval)
        FROM decided
        WHERE slot.key = decided.key AND decided.chat_wait = 0 AND NOT decided.refused
        RETURNING 1
    )
    SELECT key, refused, chat_wait, (SELECT count(*) FROM moved) FROM decided
    """,
    **{"global": "text"},
    keys="text[]",
    chat_ids="bigint[]",
    chat_interval="float8",
)
_GIVE_BACK = Prepared(
    "habitctl_give_back_permit",
    "UPDATE send_slots SET next_at = now() + interval '1 second' WHERE key = :key",
    key="text",
)
_PAUSE = Prepared(
    "habitctl_pause_bot",
    """
    UPDATE send_slots SET next_at = GREATEST(next_at, now() + make_interval(secs => :seconds))
    WHERE key = :global
    """,
    **{"global": "text"},
    seconds="float8",
)
PREPARED = (_CREATE, _TAKE, _TAKE_CHATS, _GIVE_BACK, _PAUSE)


class DatabaseSlots:
    """Slots in PostgreSQL's `send_slots`, shared by every replica.

    One connection of its own, in autocommit: a slot is one prepared statement, one round
    trip (no pool check-out, no ping, no BEGIN/COMMIT, no planning). Statements come from
    worker threads, one at a time.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.known: set[str] = set()
        self.connection: Connection | None = None
        self.lock = threading.Lock()

    def _execute(self, statement: Prepared, params: dict[str, Any]) -> Any:
        with self.lock:
            for attempt in (1, 2):
                try:
                    return self._connection().exec_driver_sql(statement.execute, params)
                except DBAPIError:
                    self._close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _connection(self) -> Connection:
        """The slots' own connection, out of the pool (closing it ends its session, and with
        it the prepared statements), each statement prepared on it once. Every lookup is by
        key, so one generic plan serves every message: it is never planned again."""
        if self.connection is None:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.detach()
            try:
                connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
                for statement in PREPARED:
                    connection.exec_driver_sql(statement.prepare)
            except BaseException:
                connection.close()
                raise
            self.connection = connection
        return self.connection

    def _close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(DBAPIError):
                self.connection.close()
            self.connection = None

    def close(self) -> None:
        with self.lock:
            self._close()

    def _create(self, keys: list[str]) -> None:
        new = [key for key in keys if key not in self.known]
        if new:
            self._execute(_CREATE, {"keys": new})
            self.known.update(new)

    def take(self, chat_id: int, interval: float, permits: list[str]) -> Decision:
        keys = {"global": GLOBAL, "chat": chat_key(chat_id)}
        self._create([GLOBAL, keys["chat"], *permits])
        refused, start, permit, busy, chat_wait, _ = self._execute(
            _TAKE,
            keys
            | {
                "chat_id": chat_id,
                "permits": permits,
                "interval": interval,
                "chat_interval": CHAT_INTERVAL,
                "held": HELD,
                "busy": BUSY,
            },
        ).one()
        if refused:
            return Decision(refused=True)
        if busy:
            return Decision(busy=True)
        if start is None:
            return Decision(chat_wait=float(chat_wait))
        return Decision(start=float(start), permit=permit)

    def take_chats(self, chat_ids: list[int]) -> list[Decision]:
        keys = [chat_key(chat_id) for chat_id in chat_ids]
        self._create([GLOBAL, *keys])
        rows = self._execute(
            _TAKE_CHATS,
            {"keys": keys, "chat_ids": chat_ids, "global": GLOBAL, "chat_interval": CHAT_INTERVAL},
        ).all()
        decided = {key: (refused, float(wait)) for key, refused, wait, _ in rows}
        return [chat_decision(*decided[key]) for key in keys]

    def give_back(self, permit: str) -> None:
        self._execute(_GIVE_BACK, {"key": permit})

    def pause(self, seconds: float) -> None:
        self._execute(_PAUSE, {"global": GLOBAL, "seconds": seconds})

    def refuse(self, chat_id: int) -> None:
        """Nothing to store: `take` reads the chat's unreachable mark from user_contacts."""


def chat_decision(refused: bool, chat_wait: float) -> Decision:
    """A chat's slot alone: taken when it is free now (no bot rate)."""
    if refused:
        return Decision(refused=True)
    return Decision(start=0.0) if chat_wait <= 0 else Decision(chat_wait=chat_wait)


class ChatTakes:
    """Without a bot rate: whoever waits for a chat's slot joins the next statement, which
    takes the slots of every chat waiting (the way a database groups commits). A chat asked
    for twice waits for the statement after."""

    def __init__(self, store: SlotStore) -> None:
        self.store = store
        self.waiting: list[tuple[int, asyncio.Future[Decision]]] = []
        self.running: asyncio.Task[None] | None = None

    async def take(self, chat_id: int) -> Decision:
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self.waiting.append((chat_id, future))
        if self.running is None:
            self.running = asyncio.ensure_future(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self.waiting:
                group: dict[int, asyncio.Future[Decision]] = {}
                later = []
                for chat_id, future in self.waiting:
                    if future.done():  # its task was cancelled
                        continue
                    if chat_id in group:
                        later.append((chat_id, future))
                    else:
                        group[chat_id] = future
                self.waiting = later
                if not group:
                    continue
                try:
                    decisions = await asyncio.to_thread(self.store.take_chats, list(group))
                except Exception as exc:  # each waiting message sees the failure
                    for future in group.values():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for future, decision in zip(group.values(), decisions, strict=True):
                    if not future.done():
                        future.set_result(decision)
        finally:
            self.running = None


class Pacer:
    """Hands out a message's slot: `slot(chat)` waits for it and gives its permit back when
    the message is answered."""

    def __init__(self, store: SlotStore, rate: float) -> None:
        self.store = store
        self.interval = 1.0 / rate if rate > 0 else 0.0  # 0: per chat only
        self.permits = permit_keys(rate)
        # At most OUTSTANDING slots taken and not yet used, per replica: enough to keep the
        # pace while one slot's round trip is under way, few enough that a replica that dies
        # holds the others back by a few spacings only.
        self.gate = asyncio.Semaphore(OUTSTANDING)
        self.chat_takes = ChatTakes(store) if rate <= 0 else None
        self.refused: set[int] = set()
        self.paused_until = 0.0  # monotonic: a 429 this process received holds until then

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int) -> AsyncIterator[bool]:
        """Waits for the chat's slot; yields False when the chat must not be sent to. The
        permit is given back on leaving, which must be after the answer (or the failure)."""
        permit = None
        try:
            allowed, permit = await self._acquire(chat_id)
            yield allowed
        finally:
            await self._give_back(permit)

    async def _give_back(self, permit: str | None) -> None:
        if permit is not None:
            with contextlib.suppress(Exception):  # else it comes back after HELD
                await asyncio.to_thread(self.store.give_back, permit)

    async def _acquire(self, chat_id: int) -> tuple[bool, str | None]:
        if self.chat_takes is not None:
            return await self._acquire_chat(self.chat_takes, chat_id), None
        while chat_id not in self.refused:
            async with self.gate:
                decision = await asyncio.to_thread(
                    self.store.take, chat_id, self.interval, self.permits
                )
                # `start` counts from when the store decided, which was before now: counted
                # from now, the message never starts before its permit is free.
                answered = time.monotonic()
                if decision.refused:
                    self.refused.add(chat_id)
                    return False, None
                if decision.start is not None:
                    await asyncio.sleep(max(0.0, answered + decision.start - time.monotonic()))
                    if time.monotonic() >= self.paused_until:
                        return chat_id not in self.refused, decision.permit
                    # A 429 came while this slot was waiting: it is void, take another.
                    await self._give_back(decision.permit)
                    continue
            await asyncio.sleep(POLL if decision.busy else decision.chat_wait or 0.0)
        return False, None

    async def _acquire_chat(self, takes: ChatTakes, chat_id: int) -> bool:
        while chat_id not in self.refused:
            decision = await takes.take(chat_id)
            if decision.refused:
                self.refused.add(chat_id)
                return False
            if decision.start is not None:
                await asyncio.sleep(decision.start)
                if time.monotonic() >= self.paused_until:
                    return chat_id not in self.refused
                # A 429 holds every message: wait it out, then take the chat's slot again.
                await asyncio.sleep(self.paused_until - time.monotonic())
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
