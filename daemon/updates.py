"""Telegram updates: long polling in a task of its own, beside the sending.

Only one `getUpdates` consumer may exist per bot (Telegram answers 409 to a second). On
PostgreSQL the replica that holds the row lock on `daemon_leader` (`SELECT … FOR UPDATE`
in a transaction kept open on a connection of its own) polls; if it dies, its connection
closes, the lock goes, and another replica takes over. Only the daemon's role can touch
that table, so no member can take the election (an advisory lock is one key space that
any role can take). With SQLite there is one daemon per database file.

Updates are fetched raw and parsed one by one: one that does not parse, or whose handling
fails, is logged, counted and skipped. The next offset is stored in `app_state` as each
update is taken, and confirmed to Telegram before exit (a last `getUpdates` with it), so a restart,
even after `kill -9`, answers no update twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from telegram import Update
from telegram.error import NetworkError, TelegramError

from daemon.chat import ChatHandlers
from daemon.telegram import RawBot
from habitctl.errors import StorageError
from habitctl.storage.engine import transaction
from habitctl.storage.models import AppState

log = logging.getLogger("habitctl.daemon")

OFFSET_KEY = "telegram.update_offset"
LONG_POLL = 10  # seconds Telegram holds a getUpdates open when there is nothing new
ELECTION_RETRY = 2.0  # seconds between attempts to become the poller
CONFIRM_TIMEOUT = 1.5  # seconds the confirming getUpdates may take at exit
_ELECT = text(
    """
    SELECT id FROM daemon_leader WHERE id = 1 FOR UPDATE NOWAIT
    """
)


class UpdatePoller:
    def __init__(self, factory: sessionmaker[Session], bot: RawBot, handlers: ChatHandlers) -> None:
        self.factory = factory
        self.bot = bot
        self.handlers = handlers
        self.offset: int | None = None
        self.confirmed: int | None = None
        self.counts: Counter[str] = Counter()
        self._lock_connection: Connection | None = None
        self._elected_sqlite = False

    @property
    def engine(self) -> Engine:
        bind = self.factory.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    # ------------------------------------------------------------ election
    def elect(self) -> bool:
        """True while this replica holds the poller's row lock (taking it if free)."""
        if self.engine.dialect.name != "postgresql":
            if not self._elected_sqlite:
                self._elected_sqlite = True
                self.offset = self.stored_offset()
            return True
        try:
            if self._lock_connection is not None:
                self._lock_connection.execute(select(1))  # still alive, still holding it
                return True
            connection = self.engine.connect()
            try:
                # Held open while polling: a role default must not end it as idle.
                connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
                connection.execute(text("SET LOCAL lock_timeout = 0"))
                connection.execute(_ELECT)
            except OperationalError:  # lock_not_available: another replica polls
                connection.close()
                return False
            self._lock_connection = connection
            self.offset = self.stored_offset()
            log.info("this replica now polls Telegram updates")
            return True
        except (DBAPIError, StorageError):
            self.release()
        return False

    def release(self) -> None:
        if self._lock_connection is not None:
            with contextlib.suppress(DBAPIError):
                self._lock_connection.close()
            self._lock_connection = None

    # ------------------------------------------------------------ offset
    def stored_offset(self) -> int | None:
        with transaction(self.factory) as db:
            value = db.scalar(select(AppState.value).where(AppState.key == OFFSET_KEY))
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def store_offset(self) -> None:
        if self.offset is None:
            return
        with transaction(self.factory) as db:
            state = db.get(AppState, OFFSET_KEY)
            if state is None:
                db.add(AppState(key=OFFSET_KEY, value=str(self.offset)))
            else:
                state.value = str(self.offset)

    # ------------------------------------------------------------ polling
    async def fetch(self, timeout: float) -> list[Any]:
        params: dict[str, Any] = {
            "timeout": int(timeout),
            "allowed_updates": ["message", "callback_query"],
        }
        if self.offset is not None:
            params["offset"] = self.offset
        result = await self.bot.raw("getUpdates", read_timeout=timeout + 5, **params)
        return result if isinstance(result, list) else []

    async def poll_once(self, timeout: float = LONG_POLL) -> int | None:
        """One getUpdates and its updates handled; None if Telegram is unreachable."""
        try:
            raw_updates = await self.fetch(timeout)
        except NetworkError as exc:  # BadRequest and TimedOut included: try again shortly
            log.warning("could not fetch Telegram updates", extra={"reason": str(exc)})
            return None
        except TelegramError as exc:  # 409 Conflict (another consumer) and the like
            log.warning("could not fetch Telegram updates", extra={"reason": str(exc)})
            return None
        for raw in raw_updates:
            await self.handle_raw(raw)
        return len(raw_updates)

    async def handle_raw(self, raw: Any) -> None:
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            self.offset = max(self.offset or 0, update_id + 1)
        # Stored before handling: a crash mid-update loses that one answer (the person
        # presses again) rather than giving it twice (a used link code read as unknown).
        try:
            self.store_offset()
        except (StorageError, DBAPIError) as exc:
            log.warning("could not store the update offset", extra={"reason": str(exc)[:200]})
        try:
            update = Update.de_json(raw, self.bot)
            if update is None:
                raise ValueError("empty update")
            await self.handlers.handle(update)
            self.counts["handled"] += 1
        except Exception as exc:  # one update that cannot be handled never stops the others
            self.counts["failed"] += 1
            log.warning(
                "update skipped: it cannot be handled",
                extra={"update": update_id, "reason": f"{type(exc).__name__}: {exc}"[:300]},
            )

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll until stopped (the caller cancels this task); never raises."""
        delay = 1.0
        while not stopping.is_set():
            try:
                elected = await asyncio.to_thread(self.elect)
            except Exception as exc:
                log.warning("update poller election failed", extra={"reason": str(exc)[:200]})
                elected = False
            if not elected:
                await asyncio.sleep(ELECTION_RETRY)
                continue
            handled = await self.poll_once()
            if handled is None:
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
            else:
                delay = 1.0

    async def confirm(self) -> None:
        """Tell Telegram which updates were handled (a last getUpdates with the next offset)."""
        if self.offset is None or self.offset == self.confirmed or not self.is_poller:
            return
        with contextlib.suppress(TelegramError, TimeoutError):
            await asyncio.wait_for(
                self.bot.raw(
                    "getUpdates",
                    read_timeout=CONFIRM_TIMEOUT,
                    offset=self.offset,
                    timeout=0,
                    limit=1,
                ),
                CONFIRM_TIMEOUT,
            )
            self.confirmed = self.offset

    @property
    def is_poller(self) -> bool:
        return self._lock_connection is not None or self._elected_sqlite
