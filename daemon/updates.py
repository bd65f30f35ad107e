"""Telegram updates: `/start <code>` links a chat, the "Done ✅" button records a completion.

Only one `getUpdates` consumer may exist per bot (Telegram answers 409 to a second), so on
PostgreSQL the replica holding a session-level advisory lock polls and the others do not;
if that replica dies its connection closes, the lock is released, and another takes over.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import BadRequest, NetworkError, TelegramError

from habitctl.core.reminder_text import parse_done_button
from habitctl.errors import HabitctlError, InvalidInput
from habitctl.services import telegram_links
from habitctl.services.habits import get_own, mark_done
from habitctl.storage.engine import transaction

log = logging.getLogger("habitctl.daemon")

ADVISORY_KEY = 0x4861626974  # "Habit": the lock that elects the one update poller
START = re.compile(r"^/start(?:@\w+)?(?:\s+(?P<code>[A-Za-z0-9_-]{1,64}))?\s*$")

HELP = (
    "I send your habitctl reminders. To link this chat, run `habitctl telegram link` in "
    "your terminal and open the link it prints."
)
BAD_CODE = (
    "That link code is unknown, used or expired (codes last 15 minutes). "
    "Run `habitctl telegram link` for a new one."
)


class UpdatePoller:
    def __init__(self, factory: sessionmaker[Session], bot: Bot) -> None:
        self.factory = factory
        self.bot = bot
        self.offset: int | None = None
        self._lock_connection: Connection | None = None

    @property
    def engine(self) -> Engine:
        bind = self.factory.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    def _elected(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True  # one daemon per SQLite file
        try:
            if self._lock_connection is not None:
                self._lock_connection.execute(select(1))
                return True
            connection = self.engine.connect()
            if connection.execute(select(func.pg_try_advisory_lock(ADVISORY_KEY))).scalar():
                connection.commit()
                self._lock_connection = connection
                log.info("this replica now polls Telegram updates")
                return True
            connection.close()
        except DBAPIError:
            self.release()
        return False

    def release(self) -> None:
        if self._lock_connection is not None:
            with contextlib.suppress(DBAPIError):
                self._lock_connection.close()
            self._lock_connection = None

    async def poll(self) -> int | None:
        """Fetch and handle pending updates; the number handled, None if Telegram is unreachable."""
        if not self._elected():
            return 0
        try:
            updates = await self.bot.get_updates(
                offset=self.offset, timeout=0, allowed_updates=["message", "callback_query"]
            )
        except BadRequest as exc:  # a NetworkError subclass, but Telegram did answer
            log.warning("could not fetch Telegram updates", extra={"reason": str(exc)})
            return 0
        except NetworkError as exc:  # transport failures, 5xx and timeouts: back off
            log.warning("could not fetch Telegram updates", extra={"reason": str(exc)})
            return None
        except TelegramError as exc:  # 409 Conflict (another consumer) and the like
            log.warning("could not fetch Telegram updates", extra={"reason": str(exc)})
            return 0
        for update in updates:
            self.offset = update.update_id + 1
            try:
                await self.handle(update)
            except TelegramError as exc:
                log.warning(
                    "could not answer an update",
                    extra={"update": update.update_id, "reason": str(exc)},
                )
        return len(updates)

    async def handle(self, update: Update) -> None:
        if update.callback_query is not None:
            await self.on_button(update.callback_query)
        elif update.message is not None and update.message.text is not None:
            await self.on_message(update.message)

    async def on_message(self, message: Message) -> None:
        match = START.match(message.text or "")
        if match is None or match.group("code") is None:
            await message.reply_text(HELP)
            return
        username = message.from_user.username if message.from_user else None
        try:
            with transaction(self.factory) as db:
                user = telegram_links.bind_chat(
                    db, match.group("code"), message.chat_id, username, datetime.now(UTC)
                )
                name = user.username
        except HabitctlError as exc:
            reply = BAD_CODE if exc.code == "not_found" else f"Not linked: {exc.message}."
            await message.reply_text(reply)
            return
        log.info("telegram chat linked", extra={"user": name})
        await message.reply_text(
            f"Linked to habitctl as {name}. Your reminders will arrive here; press "
            "“Done ✅” on one to record it."
        )

    async def on_button(self, query: CallbackQuery) -> None:
        parsed = parse_done_button(query.data or "")
        chat = query.message.chat.id if query.message is not None else None
        if parsed is None or chat is None:
            await query.answer("This button is not one of habitctl's.")
            return
        habit_id, day = parsed
        try:
            with transaction(self.factory) as db:
                user = telegram_links.user_for_chat(db, chat)
                action = get_own(db, user, habit_id).action
                _, new = mark_done(db, user, habit_id, day, datetime.now(UTC), source="telegram")
        except InvalidInput as exc:
            await query.answer(exc.message)
            return
        except HabitctlError:
            await query.answer("That habit no longer exists.")
            return
        await query.answer("Recorded ✅" if new else "Already recorded ✅")
        original = getattr(query.message, "text", None) or f"I will {action}"
        await query.edit_message_text(f"{original}\n\n✅ Done on {day:%Y-%m-%d}")
