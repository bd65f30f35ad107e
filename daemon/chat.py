"""What the bot answers: `/start <code>` links a chat, the "Done ✅" button records a completion.

Kept apart from the poller (`daemon.updates`), which only fetches, elects and confirms:
this module is what a person talking to the bot sees. Replies go out raw
(`RawBot.raw`): an odd answer from the Bot API (an
`editMessageText` answering `null`, a `date` in milliseconds) is then no error at all.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from telegram import CallbackQuery, Message, Update

from daemon.telegram import RawBot
from habitctl.core.reminder_text import parse_done_button
from habitctl.errors import HabitctlError, InvalidInput
from habitctl.services import telegram_links
from habitctl.services.habits import get_own, mark_done
from habitctl.storage.engine import transaction

log = logging.getLogger("habitctl.daemon")

START = re.compile(r"^/start(?:@\w+)?(?:\s+(?P<code>[A-Za-z0-9_-]{1,64}))?\s*$")

HELP = (
    "I send your habitctl reminders. To link this chat, run `habitctl telegram link` in "
    "your terminal and open the link it prints."
)
BAD_CODE = (
    "That link code is unknown, used or expired (codes last 15 minutes). "
    "Run `habitctl telegram link` for a new one."
)


class ChatHandlers:
    def __init__(self, factory: sessionmaker[Session], bot: RawBot) -> None:
        self.factory = factory
        self.bot = bot

    async def call(self, method: str, **params: Any) -> Any:
        return await self.bot.raw(method, **params)

    async def handle(self, update: Update) -> None:
        if update.callback_query is not None:
            await self.on_button(update.callback_query)
        elif update.message is not None and update.message.text is not None:
            await self.on_message(update.message)

    async def reply(self, message: Message, text: str) -> None:
        await self.call("sendMessage", chat_id=message.chat.id, text=text)

    async def on_message(self, message: Message) -> None:
        match = START.match(message.text or "")
        if match is None or match.group("code") is None:
            await self.reply(message, HELP)
            return
        username = message.from_user.username if message.from_user else None
        try:
            with transaction(self.factory) as db:
                user = telegram_links.bind_chat(
                    db, match.group("code"), message.chat.id, username, datetime.now(UTC)
                )
                name = user.username
        except HabitctlError as exc:
            reply = BAD_CODE if exc.code == "not_found" else f"Not linked: {exc.message}."
            await self.reply(message, reply)
            return
        log.info("telegram chat linked", extra={"user": name})
        await self.reply(
            message,
            f"Linked to habitctl as {name}. Your reminders will arrive here; press "
            "“Done ✅” on one to record it.",
        )

    async def answer(self, query: CallbackQuery, text: str) -> None:
        await self.call("answerCallbackQuery", callback_query_id=query.id, text=text)

    async def on_button(self, query: CallbackQuery) -> None:
        parsed = parse_done_button(query.data or "")
        message = query.message
        chat = message.chat.id if message is not None else None
        if parsed is None or chat is None or message is None:
            await self.answer(query, "This button is not one of habitctl's.")
            return
        habit_id, day = parsed
        try:
            with transaction(self.factory) as db:
                user = telegram_links.user_for_chat(db, chat)
                action = get_own(db, user, habit_id).action
                _, new = mark_done(db, user, habit_id, day, datetime.now(UTC), source="telegram")
        except InvalidInput as exc:
            await self.answer(query, exc.message)
            return
        except HabitctlError:
            await self.answer(query, "That habit no longer exists.")
            return
        await self.answer(query, "Recorded ✅" if new else "Already recorded ✅")
        original = getattr(message, "text", None) or f"I will {action}"
        await self.call(
            "editMessageText",
            chat_id=chat,
            message_id=message.message_id,
            text=f"{original}\n\n✅ Done on {day:%Y-%m-%d}",
        )
