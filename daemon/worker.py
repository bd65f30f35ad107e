"""One tick of the daemon: lease what is due, send it with no transaction open, record it.

A tick leases `batch_size` reminders at a time (one short transaction, in a thread), starts
one task per reminder, and leases the next batch while that one is sending, as soon as no
more than a batch is left in hand (so at most two), until nothing is due. Each task waits
for its slot (`Pacer`), sends, and hands the outcome to the `Recorder`, which writes it
within milliseconds. One habit that cannot be handled is set aside with its reason
(`set_aside`) and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from daemon.buttons import ReminderButtons, name_streaks
from daemon.pacing import Pacer
from daemon.recorder import Recorder
from daemon.telegram import Attempt, RawBot, Result, send_reminder
from habitctl.errors import StorageError
from habitctl.services import reminder_records, snoozes
from habitctl.services.reminder_records import Handled
from habitctl.services.reminders import (
    ClaimedHabit,
    DueReminder,
    claim_due,
    database_now,
    prepare,
)
from habitctl.storage.engine import transaction

log = logging.getLogger("habitctl.daemon")

MAX_ATTEMPTS = 3  # transient failures per message per tick: backoff 0.5 s, 1 s
MAX_RATE_LIMITED = 5  # 429 answers honoured per message per tick
SET_ASIDE_FOR = timedelta(hours=1)  # a habit that cannot be handled is tried again after this
STOP_DEADLINE = 5.0  # seconds a send in flight may take once asked to stop


@dataclass
class TickReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    unreachable: int = 0
    failed: int = 0
    set_aside: int = 0


@dataclass
class Leased:
    """One lease of a batch, worked out in a thread: what to send, what only moves on."""

    claimed: int = 0
    skipped: int = 0
    set_aside: int = 0
    ready: list[DueReminder] = field(default_factory=list)
    handled: list[Handled] = field(default_factory=list)


@dataclass
class Worker:
    factory: sessionmaker[Session]
    bot: RawBot
    pacer: Pacer
    recorder: Recorder
    replica: str
    batch_size: int
    grace: timedelta
    lease: timedelta
    stopping: asyncio.Event
    telegram_failures: int = 0
    telegram_resume_at: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    # Tasks inside the HTTP call: on stop they get until the deadline, the others go at once.
    sending: set[asyncio.Task[None]] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    report: TickReport = field(default_factory=TickReport)
    buttons: ReminderButtons = field(default_factory=ReminderButtons)

    def back_off(self, reason: str) -> None:
        self.telegram_failures += 1
        delay = min(60.0, 2.0**self.telegram_failures)
        self.telegram_resume_at = time.monotonic() + delay
        log.warning("telegram failing, backing off", extra={"reason": reason, "retry_in_s": delay})

    async def tick(self) -> TickReport:
        self.report = TickReport()
        if time.monotonic() < self.telegram_resume_at:
            return self.report  # Telegram was failing: back off instead of hammering it
        more = True
        while not self.stopping.is_set():
            if more and len(self.tasks) <= self.batch_size and not self.backing_off:
                claimed = await self.claim(self.batch_size)
                more = len(claimed) == self.batch_size
                self.start(claimed)
            if not self.tasks:
                break
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait([*self.tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
        if self.stopping.is_set():
            await self.abandon()
            if self.recorder.flush():
                self.release_all()
        else:
            self.recorder.flush()
        return self.report

    def release_all(self) -> None:
        """Every lease this replica still holds goes back: those habits are due at once."""
        try:
            with transaction(self.factory) as db:
                reminder_records.release(db, self.replica)
        except Exception as exc:  # the leases run out by themselves
            log.warning("could not release leases", extra={"reason": str(exc).splitlines()[0]})

    def heartbeat(self) -> None:
        """Extend this replica's leases while its sends are under way."""
        if not self.tasks:
            return
        with transaction(self.factory) as db:
            reminder_records.extend(db, self.replica, database_now(db), self.lease)

    @property
    def backing_off(self) -> bool:
        return time.monotonic() < self.telegram_resume_at

    async def claim(self, limit: int) -> list[DueReminder]:
        """Lease up to `limit` in a thread (the sends under way go on meanwhile); what needs
        no message is handed to the recorder."""
        leased = await asyncio.to_thread(self.lease_batch, limit)
        self.report.claimed += leased.claimed
        self.report.skipped += leased.skipped
        self.report.set_aside += leased.set_aside
        self.counts["set_aside"] += leased.set_aside
        for moved in leased.handled:
            self.recorder.add(moved)
        return leased.ready

    def lease_batch(self, limit: int) -> Leased:
        """Lease up to `limit` (committed at once), then make each one ready on its own."""
        with transaction(self.factory) as db:
            now = database_now(db)
            self.buttons.load(db)  # the key the buttons are signed with, read once
            claimed = claim_due(db, self.replica, now, limit, self.lease)
            # "Later" presses come due through the same lease as any reminder.
            snoozed, cancelled = snoozes.claim_due(
                db, self.replica, now, limit - len(claimed), self.lease, self.grace
            )
        if cancelled:
            log.info("snoozes cancelled", extra={"count": len(cancelled)})
        leased = Leased(claimed=len(claimed))
        ready, bad = [], {}
        for item in claimed:
            try:
                reminder = prepare(item, now, self.grace)
            except Exception as exc:  # bad data or a bug: this habit only
                bad[item.habit_id] = self.set_aside_reason(item, exc)
                continue
            if reminder.skipped is not None:
                leased.skipped += 1
                log.info(
                    "reminder skipped: older than the catch-up grace",
                    extra={"habit": reminder.habit_id, "occurrence": reminder.skipped.isoformat()},
                )
            if reminder.due_now and reminder.chat_id is not None:
                ready.append(reminder)
            else:  # no chat linked (or unreachable), or caught up to one still to come
                leased.handled.append(self.moved_on(reminder))
        if bad:
            self.set_aside(bad)
            leased.set_aside = len(bad)
        leased.ready = name_streaks(self.factory, ready + snoozed, now)
        return leased

    @staticmethod
    def set_aside_reason(item: ClaimedHabit, exc: Exception) -> str:
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.error(
            "habit set aside: its reminder cannot be handled",
            extra={"habit": item.habit_id, "user": item.user_id, "reason": reason},
        )
        return str(reason)

    def set_aside(self, reasons: dict[int, str]) -> None:
        with transaction(self.factory) as db:
            reminder_records.set_aside(db, self.replica, reasons, database_now(db), SET_ASIDE_FOR)

    @staticmethod
    def moved_on(reminder: DueReminder) -> Handled:
        return Handled(
            habit_id=reminder.habit_id,
            leased_at=reminder.leased_at,
            next_at=reminder.following if reminder.due_now else reminder.occurrence,
            skipped=reminder.skipped,
        )

    def start(self, reminders: list[DueReminder]) -> None:
        for reminder in reminders:
            task = asyncio.ensure_future(self.guarded_deliver(reminder))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def abandon(self) -> None:
        """Stopping: what waits for a slot goes back now; a send in flight gets until the
        deadline, then is cancelled (it may have arrived: the documented duplicate window)."""
        for task in self.tasks - self.sending:
            task.cancel()
        if self.sending:
            await asyncio.wait(set(self.sending), timeout=STOP_DEADLINE)
        for task in set(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=0.5)

    async def guarded_deliver(self, reminder: DueReminder) -> None:
        """`deliver`, with anything unexpected setting this one habit aside."""
        try:
            await self.deliver(reminder)
        except asyncio.CancelledError:
            raise  # stopping: `release_all` gives the lease back once the recorder is flushed
        except (StorageError, DBAPIError) as exc:  # the database, not the habit: it stays due
            log.warning(
                "database unavailable while sending: the lease runs out and the habit is due",
                extra={"habit": reminder.habit_id, "reason": str(exc).splitlines()[0][:200]},
            )
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error(
                "habit set aside: unexpected error while sending",
                extra={"habit": reminder.habit_id, "reason": reason},
            )
            self.counts["set_aside"] += 1
            self.report.set_aside += 1
            try:
                self.set_aside({reminder.habit_id: reason})
            except Exception as db_exc:  # the database is away: the lease will run out
                log.warning("could not set the habit aside", extra={"reason": str(db_exc)})

    def give_back(self, reminder: DueReminder) -> None:
        """Not sent (stopping, or failed): release the lease so the habit is due again now."""
        try:
            with transaction(self.factory) as db:
                reminder_records.release(db, self.replica, [reminder.habit_id])
        except Exception as exc:  # the lease runs out by itself
            log.warning("could not release a lease", extra={"reason": str(exc).splitlines()[0]})

    async def deliver(self, reminder: DueReminder) -> None:
        """Send one reminder at its slot, honouring 429s and retrying transient failures."""
        chat = reminder.chat_id
        assert chat is not None
        buttons = self.buttons.for_reminder(reminder)
        failures = rate_limited = 0
        while True:
            async with self.pacer.slot(chat) as allowed:
                if not allowed:  # the chat became unreachable meanwhile
                    self.recorder.add(self.moved_on(reminder))
                    self.report.unreachable += 1
                    return
                task = asyncio.current_task()
                assert task is not None
                self.sending.add(task)
                try:
                    attempt = await send_reminder(self.bot, chat, reminder.text, buttons)
                finally:
                    self.sending.discard(task)
            if attempt.result is Result.SENT:
                self.sent(reminder, attempt)
                return
            if attempt.result is Result.UNREACHABLE:
                self.unreachable(reminder, attempt)
                return
            if attempt.result is Result.RETRY_LATER and rate_limited < MAX_RATE_LIMITED:
                rate_limited += 1
                log.warning(
                    "telegram asked to slow down",
                    extra={"habit": reminder.habit_id, "retry_after_s": attempt.retry_after},
                )
                await asyncio.to_thread(self.pacer.pause, attempt.retry_after)
                continue
            if attempt.result is Result.TIMED_OUT:
                self.counts["timed_out"] += 1
            if attempt.result is not Result.RETRY_LATER and failures + 1 < MAX_ATTEMPTS:
                failures += 1
                delay = 0.5 * 2 ** (failures - 1)
                log.warning(  # a timeout may have delivered it: the retry may duplicate
                    "send failed, retrying",
                    extra={
                        "habit": reminder.habit_id,
                        "reason": attempt.detail,
                        "retry_in_s": delay,
                    },
                )
                await asyncio.sleep(delay)
                continue
            self.report.failed += 1
            log.warning(
                "reminder not delivered, stays due",
                extra={"habit": reminder.habit_id, "reason": attempt.detail},
            )
            self.give_back(reminder)
            if not self.backing_off:
                self.back_off(f"reminder to habit {reminder.habit_id} not delivered")
            return

    def sent(self, reminder: DueReminder, attempt: Attempt) -> None:
        self.recorder.add(
            Handled(
                habit_id=reminder.habit_id,
                leased_at=reminder.leased_at,
                next_at=reminder.following,
                skipped=reminder.skipped,
                sent_at_occurrence=reminder.occurrence,
                chat_id=reminder.chat_id,
                message_id=attempt.message_id,
                snooze=reminder.snooze,
            )
        )
        self.telegram_failures = 0
        self.report.sent += 1
        self.counts["sent"] += 1
        lateness = time.time() - reminder.occurrence.timestamp()
        log.info(
            "reminder sent",
            extra={
                "habit": reminder.habit_id,
                "occurrence": reminder.occurrence.isoformat(),
                "late_s": round(max(0.0, lateness), 1),
            },
        )

    def unreachable(self, reminder: DueReminder, attempt: Attempt) -> None:
        """403/400: stop that chat now, everywhere, and move its habits on without a send."""
        assert reminder.chat_id is not None
        self.pacer.refuse(reminder.chat_id)
        try:
            with transaction(self.factory) as db:
                reminder_records.mark_unreachable(
                    db, reminder.user_id, attempt.detail, database_now(db)
                )
        except Exception as exc:  # refused here already; the next 403 marks it again
            log.warning("could not mark the chat unreachable", extra={"reason": str(exc)})
        self.recorder.add(self.moved_on(reminder))
        self.report.unreachable += 1
        self.counts["unreachable"] += 1
        log.warning(
            "chat unreachable: reminders to this user stop until relinked",
            extra={"user": reminder.user_id, "reason": attempt.detail},
        )
