"""Sending one reminder through python-telegram-bot, and what its failure means.

python-telegram-bot maps Bot API answers to exceptions; `BadRequest` and `TimedOut` are
subclasses of `NetworkError`, so the specific ones are caught first:

    RetryAfter (429)        wait `retry_after`, then send the same message again
    Forbidden (403)         the user blocked the bot: the chat is unreachable
    BadRequest (400)        chat not found (or gone): the chat is unreachable
    InvalidToken (401/404)  the daemon cannot work at all: it exits
    TimedOut                ambiguous, the message may have arrived: retried (may duplicate)
    NetworkError, 5xx       retried with backoff; the reminder stays due
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from daemon.transport import AiohttpRequest


class Result(Enum):
    SENT = "sent"
    UNREACHABLE = "unreachable"
    RETRY_LATER = "retry_later"  # transient: try again after `retry_after` (429)
    FAILED = "failed"  # transient failure: the reminder stays due
    TIMED_OUT = "timed_out"  # ambiguous: it may have arrived (the duplicate window)


@dataclass(frozen=True)
class Attempt:
    result: Result
    message_id: int | None = None
    detail: str = ""
    retry_after: float = 0.0


class FatalTelegramError(Exception):
    """The bot token is refused: no reminder can be sent until the configuration changes."""


class RawBot(Bot):
    """A `Bot` that can also call a method and hand back Telegram's answer unparsed.

    python-telegram-bot parses every answer into its objects; an answer it cannot parse (a
    `date` in milliseconds, `null` where a message was expected) raises after Telegram has
    done the work, which for a reminder would look like a failed send and cause a resend.
    """

    async def raw(self, method: str, read_timeout: float | None = None, **params: Any) -> Any:
        if read_timeout is None:
            return await self._post(method, api_kwargs=params)
        return await self._post(method, api_kwargs=params, read_timeout=read_timeout)


def make_bot(token: str, base_url: str, connections: int, timeout: float = 5.0) -> RawBot:
    request = AiohttpRequest(
        connections=connections,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        pool_timeout=timeout,
    )
    return RawBot(token, base_url=base_url, request=request, get_updates_request=AiohttpRequest())


def keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Inline buttons from rows of (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def keyboard_json(rows: list[list[tuple[str, str]]]) -> str:
    """The same inline keyboard as `keyboard`, already in the Bot API's JSON: a reminder's
    buttons are built for every send, and python-telegram-bot's objects (built, frozen, then
    walked back into a dict) were a tenth of the daemon's CPU per reminder."""
    return json.dumps(
        {
            "inline_keyboard": [
                [{"text": label, "callback_data": data} for label, data in row] for row in rows
            ]
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def message_id_of(result: object) -> int | None:
    """The id in a sendMessage answer, read defensively: an odd answer (a `date` in
    milliseconds, a missing field) must not turn an accepted message into an error."""
    if isinstance(result, dict):
        value = result.get("message_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


async def send_reminder(bot: RawBot, chat_id: int, text: str, buttons: str) -> Attempt:
    """One sendMessage; the outcome classified, never raised (except a refused token).

    The answer is taken raw (`RawBot.raw`): a parse failure after Telegram accepted the
    message would look like a failed send and cause a resend. `buttons` is the keyboard in
    the Bot API's JSON (`keyboard_json`).
    """
    try:
        result = await bot.raw("sendMessage", chat_id=chat_id, text=text, reply_markup=buttons)
    except RetryAfter as exc:
        with warnings.catch_warnings():  # PTB 22 warns about int vs timedelta here
            warnings.simplefilter("ignore")
            wait = _seconds(exc.retry_after)
        return Attempt(Result.RETRY_LATER, detail="429 too many requests", retry_after=wait)
    except Forbidden as exc:
        return Attempt(Result.UNREACHABLE, detail=f"403 {exc.message}")
    except BadRequest as exc:
        return Attempt(Result.UNREACHABLE, detail=f"400 {exc.message}")
    except InvalidToken as exc:
        raise FatalTelegramError("Telegram refused the bot token") from exc
    except TimedOut:
        return Attempt(Result.TIMED_OUT, detail="timed out (the message may have arrived)")
    except NetworkError as exc:
        return Attempt(Result.FAILED, detail=f"network error: {exc.message}")
    except TelegramError as exc:  # 409 and other answers: transient as far as we know
        return Attempt(Result.FAILED, detail=f"telegram error: {exc.message}")
    return Attempt(Result.SENT, message_id=message_id_of(result))
