"""Recording what Telegram accepted, right after it accepted it.

Senders hand each outcome over with `add`; the recorder writes what arrived within WINDOW
of the first one in one short transaction (`record_handled`, set-based). So a crash repeats
at most the messages accepted in the last WINDOW plus the write in progress (a few
milliseconds: at 25 messages a second, the one message in flight, rarely two), never a batch.
If the database is away the outcomes stay queued and the write is retried with backoff;
they are lost only if the process dies meanwhile, and then the leases run out and those
messages go again (the documented duplicate window of a database outage).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from habitctl.services.reminder_records import Handled, record_handled
from habitctl.storage.engine import transaction

log = logging.getLogger("habitctl.daemon")

WINDOW = 0.005  # seconds: what was accepted this close together is written together
MAX_BACKOFF = 5.0


class Recorder:
    def __init__(self, factory: sessionmaker[Session], replica: str) -> None:
        self.factory = factory
        self.replica = replica
        self.pending: list[Handled] = []
        self.arrived = asyncio.Event()
        self.failures = 0
        self.recorded = 0

    def add(self, handled: Handled) -> None:
        self.pending.append(handled)
        self.arrived.set()

    def write(self, group: list[Handled]) -> bool:
        """Write `group` in one short transaction; False if it failed (the caller keeps it)."""
        if not group:
            return True
        try:
            with transaction(self.factory) as db:
                record_handled(db, self.replica, group)
        except Exception as exc:  # the database away, or a bug: kept, retried, never lost
            self.failures += 1
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.warning(
                "could not record deliveries, retrying",
                extra={"pending": len(group), "reason": reason.splitlines()[0]},
            )
            return False
        self.failures = 0
        self.recorded += len(group)
        return True

    def take(self) -> list[Handled]:
        group, self.pending = self.pending, []
        return group

    async def run(self) -> None:
        """Until cancelled: write each group as soon as its window closes."""
        while True:
            await self.arrived.wait()
            await asyncio.sleep(WINDOW)
            self.arrived.clear()
            group = self.take()  # on the loop's thread, where `add` appends
            # Written in a thread: the event loop keeps waking senders on their slots. A
            # cancel (stopping) waits for that write: the group is neither lost nor written
            # twice, and `flush` writes whatever is still pending after it.
            writing = asyncio.ensure_future(asyncio.to_thread(self.write, group))
            try:
                written = await asyncio.shield(writing)
            except asyncio.CancelledError:
                if not await writing:
                    self.pending = group + self.pending
                raise
            if not written:
                self.pending = group + self.pending
                await asyncio.sleep(min(MAX_BACKOFF, 0.2 * 2**self.failures))
                self.arrived.set()

    def flush(self) -> bool:
        group = self.take()
        if self.write(group):
            return True
        self.pending = group + self.pending
        return False
