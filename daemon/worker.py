"""One tick of the daemon: answer Telegram updates, then deliver what is due, batch by batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot

from daemon.pacing import CHAT_INTERVAL, Pacer
from daemon.telegram import Attempt, Result, send_reminder
from daemon.updates import UpdatePoller
from habitctl.core.reminder_text import done_button_data
from habitctl.services.reminders import (
    DueReminder,
    Outcomes,
    apply_grace,
    claim_due,
    database_now,
    record_outcomes,
)
from habitctl.storage.engine import transaction

log = logging.getLogger("habitctl.daemon")

MAX_ATTEMPTS = 3  # transient failures per message per tick: backoff 0.5 s, 1 s
MAX_RATE_LIMITED = 5  # 429 answers honoured per message per tick


@dataclass
class TickReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    unreachable: int = 0
    failed: int = 0

    def add(self, other: TickReport) -> None:
        for name in ("claimed", "sent", "skipped", "unreachable", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Worker:
    factory: sessionmaker[Session]
    bot: Bot
    pacer: Pacer
    batch_size: int
    grace: timedelta
    stopping: asyncio.Event
    poller: UpdatePoller | None = None
    telegram_failures: int = 0
    telegram_resume_at: float = 0.0
    # chat id → monotonic time before which Telegram asked (429) not to send to it again;
    # other messages to that chat already planned in this process wait for it too.
    held_until: dict[int, float] = field(default_factory=dict)
    # When this process last sent (monotonic), per chat and at all. The pacer plans slots,
    # but a coroutine can wake late (a busy loop, a slow reservation) and bunch up with the
    # next slot, and a retry after a failure has no slot: the spacing is checked again at
    # the moment of sending.
    last_sent: dict[int, float] = field(default_factory=dict)
    last_sent_any: float = float("-inf")
    _report: TickReport = field(default_factory=TickReport)

    @property
    def engine(self) -> Engine:
        bind = self.factory.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    def back_off(self, reason: str) -> None:
        self.telegram_failures += 1
        delay = min(60.0, 2.0**self.telegram_failures)
        self.telegram_resume_at = time.monotonic() + delay
        log.warning("telegram failing, backing off", extra={"reason": reason, "retry_in_s": delay})

    async def tick(self) -> TickReport:
        report = TickReport()
        if time.monotonic() < self.telegram_resume_at:
            return report  # Telegram was failing: back off instead of hammering it
        if self.poller is not None and await self.poller.poll() is None:
            self.back_off("Telegram unreachable while fetching updates")
            return report
        while not self.stopping.is_set():
            batch = await self.process_batch()
            report.add(batch)
            if batch.failed:
                self.back_off(f"{batch.failed} reminder(s) not delivered")
                break
            self.telegram_failures = 0
            if batch.claimed < self.batch_size:
                break
        return report

    async def process_batch(self) -> TickReport:
        report = TickReport()
        outcomes = Outcomes()
        with transaction(self.factory) as db:
            now = database_now(db)
            batch = claim_due(db, now, self.batch_size)
            report.claimed = len(batch)
            to_send = []
            for reminder in batch:
                due = apply_grace(reminder, now, self.grace)
                report.skipped += len(reminder.skipped)
                for occurrence in reminder.skipped:
                    log.info(
                        "reminder skipped: older than the catch-up grace",
                        extra={"habit": reminder.habit_id, "occurrence": occurrence.isoformat()},
                    )
                if not due:
                    continue
                if reminder.chat_id is None:
                    outcomes.advance_only.add(reminder.habit_id)
                else:
                    to_send.append(reminder)
            if to_send:
                await self.send_all(to_send, outcomes, report)
            record_outcomes(db, batch, outcomes, now)
        return report

    async def send_all(
        self, reminders: list[DueReminder], outcomes: Outcomes, report: TickReport
    ) -> None:
        now = time.monotonic()
        self.held_until = {chat: t for chat, t in self.held_until.items() if t > now}
        recent = now - CHAT_INTERVAL
        self.last_sent = {chat: t for chat, t in self.last_sent.items() if t > recent}
        delays = self.pacer.reserve([r.chat_id for r in reminders if r.chat_id is not None])
        results = await asyncio.gather(
            *(self.deliver(r, delay) for r, delay in zip(reminders, delays, strict=True))
        )
        for reminder, attempt in zip(reminders, results, strict=True):
            if attempt is None:
                continue  # shutting down before it was sent: it stays due
            if attempt.result is Result.SENT:
                outcomes.sent[reminder.habit_id] = attempt.message_id
                report.sent += 1
            elif attempt.result is Result.UNREACHABLE:
                outcomes.unreachable[reminder.user_id] = attempt.detail
                outcomes.advance_only.add(reminder.habit_id)
                report.unreachable += 1
                log.warning(
                    "chat unreachable: reminders to this user stop until relinked",
                    extra={"user": reminder.user_id, "reason": attempt.detail},
                )
            else:
                report.failed += 1
                log.warning(
                    "reminder not delivered, stays due",
                    extra={"habit": reminder.habit_id, "reason": attempt.detail},
                )

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless asked to stop; False when stopping."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        return not self.stopping.is_set()

    async def deliver(self, reminder: DueReminder, delay: float) -> Attempt | None:
        """Send one reminder at its slot, honouring 429s and retrying transient failures."""
        assert reminder.chat_id is not None
        data = done_button_data(reminder.habit_id, reminder.local_day)
        failures = rate_limited = 0
        attempt: Attempt | None = None
        while await self._sleep(delay):
            now = time.monotonic()
            held = self.held_until.get(reminder.chat_id, 0.0) - now
            if held > 0:
                [delay] = self.pacer.reserve([reminder.chat_id], not_before=held)
                continue
            delay = max(
                self.last_sent.get(reminder.chat_id, float("-inf")) + CHAT_INTERVAL - now,
                self.last_sent_any + self.pacer.interval - now,
            )
            if delay > 0:
                continue
            self.last_sent[reminder.chat_id] = self.last_sent_any = now
            attempt = await send_reminder(self.bot, reminder.chat_id, reminder.text, data)
            if attempt.result is Result.SENT:
                lateness = time.time() - reminder.occurrence.timestamp()
                log.info(
                    "reminder sent",
                    extra={
                        "habit": reminder.habit_id,
                        "occurrence": reminder.occurrence.isoformat(),
                        "late_s": round(max(0.0, lateness), 1),
                    },
                )
                return attempt
            if attempt.result is Result.RETRY_LATER and rate_limited < MAX_RATE_LIMITED:
                rate_limited += 1
                log.warning(
                    "telegram asked to slow down",
                    extra={"habit": reminder.habit_id, "retry_after_s": attempt.retry_after},
                )
                self.held_until[reminder.chat_id] = max(
                    self.held_until.get(reminder.chat_id, 0.0),
                    time.monotonic() + attempt.retry_after,
                )
                [delay] = self.pacer.reserve([reminder.chat_id], not_before=attempt.retry_after)
                continue
            if attempt.result is Result.FAILED and failures + 1 < MAX_ATTEMPTS:
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
                continue
            if attempt.result is Result.RETRY_LATER:
                attempt = Attempt(Result.FAILED, detail=attempt.detail)
            return attempt
        return None
