"""What the bot answers: `/start <code>` links a chat; Done, Later and Skip on a reminder;
`/today`, `/stats` and `/help` in a linked chat.

Kept apart from the poller (`daemon.updates`), which only fetches, elects and confirms:
this module is what a person talking to the bot sees. Replies go out raw
(`RawBot.raw`): an odd answer from the Bot API (an `editMessageText` answering `null`, a
`date` in milliseconds) is then no error at all.

A press is read from its signed data (`read_button`): data the bot did not issue to this
very chat is refused before anything is looked up, so no press names another person's
habit or another day. Every press is answered, so the client stops waiting.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from daemon import chat_views as views
from daemon.buttons import ReminderButtons
from daemon.telegram import RawBot, keyboard
from habitctl.core.reminder_text import read_button
from habitctl.core.streaks import Status
from habitctl.errors import HabitctlError, InvalidInput, NotFound
from habitctl.services import progress, snoozes, telegram_links
from habitctl.services.reminder_buttons import PressOutcome, record_press
from habitctl.services.reminders import database_now
from habitctl.storage.engine import transaction
from habitctl.storage.models import User

log = logging.getLogger("habitctl.daemon")

START = re.compile(r"^/start(?:@\w+)?(?:\s+(?P<code>[A-Za-z0-9_-]{1,64}))?\s*$")
COMMAND = re.compile(r"^/(?P<name>[A-Za-z]+)(?:@\w+)?(?:\s|$)")
HELP = views.LINK_FIRST  # what an unlinked chat is told, whatever it says
BAD_CODE = (
    "That link code is unknown, used or expired (codes last 15 minutes). "
    "Run `habitctl telegram link` for a new one."
)
STATS_DAYS = 365  # the window of `habitctl stats` by default; streaks do not depend on it


class ChatHandlers:
    def __init__(
        self,
        factory: sessionmaker[Session],
        bot: RawBot,
        buttons: ReminderButtons | None = None,
        snooze: timedelta = timedelta(minutes=15),
    ) -> None:
        self.factory = factory
        self.bot = bot
        self.buttons = buttons or ReminderButtons()
        self.snooze = snooze

    async def call(self, method: str, **params: Any) -> Any:
        return await self.bot.raw(method, **params)

    async def register_commands(self) -> None:
        """The command menu Telegram shows (setMyCommands); a failure only costs the menu."""
        commands = [{"command": name, "description": text} for name, text in views.COMMANDS]
        try:
            await self.call("setMyCommands", commands=commands)
        except TelegramError as exc:
            log.warning("could not register the bot's commands", extra={"reason": str(exc)})

    async def handle(self, update: Update) -> None:
        if update.callback_query is not None:
            await self.on_button(update.callback_query)
        elif update.message is not None and update.message.text is not None:
            await self.on_message(update.message)

    async def reply(
        self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        extra = {"reply_markup": markup} if markup is not None else {}
        await self.call("sendMessage", chat_id=message.chat.id, text=text, **extra)

    # ------------------------------------------------------------ messages
    async def on_message(self, message: Message) -> None:
        words = message.text or ""
        start = START.match(words)
        if start is not None and start.group("code") is not None:
            await self.link(message, start.group("code"))
            return
        command = COMMAND.match(words)
        name = command.group("name").lower() if command else ""
        chat = message.chat.id
        with transaction(self.factory) as db:
            try:
                user = telegram_links.user_for_chat(db, chat)
            except NotFound:
                user = None
            if user is None:
                text, markup = HELP, None
            elif name == "today":
                text, markup = self.today(db, user, chat, database_now(db))
            elif name == "stats":
                items = progress.progress(db, user, database_now(db), STATS_DAYS)
                text, markup = views.stats_text(items), None
            else:  # /help, /start without a code, or anything else said
                text, markup = views.help_text(self.snooze.total_seconds() / 60), None
        await self.reply(message, text, markup)

    async def link(self, message: Message, code: str) -> None:
        username = message.from_user.username if message.from_user else None
        try:
            with transaction(self.factory) as db:
                user = telegram_links.bind_chat(
                    db, code, message.chat.id, username, datetime.now(UTC)
                )
                name = user.username
        except HabitctlError as exc:
            reply = BAD_CODE if exc.code == "not_found" else f"Not linked: {exc.message}."
            await self.reply(message, reply)
            return
        log.info("telegram chat linked", extra={"user": name})
        await self.reply(
            message,
            f"Linked to habitctl as {name}. Your reminders will arrive here with Done ✅, "
            "Later ⏰ and Skip; /today shows what is due, /help the rest.",
        )

    def today(
        self, db: Session, user: User, chat: int, now: datetime
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """Today's list and one row of buttons per habit still open, as `habitctl today`."""
        self.buttons.load(db)
        day, entries = progress.today(db, user, now)
        used = snoozes.snoozed(db, [entry.habit.id for entry in entries])
        rows = [
            self.buttons.row(
                chat,
                entry.habit.id,
                day,
                entry.due_at,
                later=(entry.habit.id, entry.due_at) not in used,
                from_today=True,
                done_label=f"Done ✅ #{entry.habit.id}",
            )
            for entry in entries
            if entry.status in (Status.DUE, Status.MISSED)
        ]
        text = views.today_text(day, user.timezone, entries)
        return text, keyboard(rows) if rows else None

    # ------------------------------------------------------------ buttons
    async def answer(self, query: CallbackQuery, text: str) -> None:
        await self.call("answerCallbackQuery", callback_query_id=query.id, text=text)

    async def on_button(self, query: CallbackQuery) -> None:
        message = query.message
        if message is None:
            await self.answer(query, views.NOT_OURS)
            return
        try:
            outcome, timezone, listing = self.record(message.chat.id, query.data or "")
        except _Refused as refusal:
            await self.answer(query, str(refusal))
            return
        await self.answer(query, views.answer_text(outcome, timezone))
        if outcome.recorded is not None:
            await self.show_recorded(message, outcome, timezone, listing)

    def record(
        self, chat: int, data: str
    ) -> tuple[PressOutcome, str, tuple[str, InlineKeyboardMarkup | None] | None]:
        """The press recorded in one transaction; `_Refused` (saying why) changes nothing."""
        with transaction(self.factory) as db:
            press = read_button(self.buttons.load(db), chat, data)
            if press is None:
                log.warning("button press refused: data this bot did not issue to the chat")
                raise _Refused(views.NOT_OURS)
            try:
                user = telegram_links.user_for_chat(db, chat)
            except NotFound:
                raise _Refused(views.NOT_LINKED) from None
            now = database_now(db)
            try:
                outcome = record_press(db, user, press, now, self.snooze)
            except NotFound:
                raise _Refused(views.GONE) from None
            except InvalidInput as exc:  # a day before the habit existed, or to come
                raise _Refused(exc.message) from None
            listing = None
            if press.from_today and outcome.recorded is not None:
                listing = self.today(db, user, chat, now)
            return outcome, user.timezone, listing

    async def show_recorded(
        self,
        message: Any,
        outcome: PressOutcome,
        timezone: str,
        listing: tuple[str, InlineKeyboardMarkup | None] | None,
    ) -> None:
        """Edit the pressed message to say what was recorded; its buttons go (on the
        `/today` list, only that habit's: the others stay pressable)."""
        line = views.recorded_line(outcome, timezone)
        if listing is not None:
            text, markup = f"{listing[0]}\n\n{outcome.action}: {line}", listing[1]
        else:
            original = getattr(message, "text", None) or f"I will {outcome.action}"
            text, markup = f"{original}\n\n{line}", None
        extra = {"reply_markup": markup} if markup is not None else {}
        with contextlib.suppress(TelegramError):  # a message too old to edit: recorded anyway
            await self.call(
                "editMessageText",
                chat_id=message.chat.id,
                message_id=message.message_id,
                text=text,
                **extra,
            )


class _Refused(Exception):
    """A press refused before anything was looked up or changed."""
