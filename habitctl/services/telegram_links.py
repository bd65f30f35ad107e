"""Linking a Telegram chat to an account with one-time `/start <code>` codes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from habitctl.errors import Conflict, NotFound
from habitctl.storage.models import AppState, TelegramLinkCode, User

CODE_LIFETIME = timedelta(minutes=15)
BOT_USERNAME_KEY = "telegram.bot_username"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def create_link_code(db: Session, user: User, now: datetime) -> str:
    """A fresh one-time code (22 URL-safe characters, fits a deep link's 64)."""
    code = secrets.token_urlsafe(16)
    db.add(
        TelegramLinkCode(user_id=user.id, code_digest=_digest(code), expires_at=now + CODE_LIFETIME)
    )
    return code


def bind_chat(db: Session, code: str, chat_id: int, username: str | None, now: datetime) -> User:
    """Bind `chat_id` to the code's user; NotFound for an unknown, used or expired code."""
    link = db.scalar(
        select(TelegramLinkCode)
        .where(TelegramLinkCode.code_digest == _digest(code))
        .with_for_update()
    )
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise NotFound("that link code is unknown, used or expired")
    holder = db.scalar(select(User).where(User.telegram_chat_id == chat_id))
    if holder is not None and holder.id != link.user_id:
        raise Conflict(f"this chat is already linked to {holder.username}: unlink it there first")
    user = db.get(User, link.user_id)
    assert user is not None
    link.used_at = now
    user.telegram_chat_id = chat_id
    user.telegram_unreachable_at = None
    user.telegram_unreachable_reason = None
    if username and not user.telegram_username:
        user.telegram_username = username
    return user


def user_for_chat(db: Session, chat_id: int) -> User:
    user = db.scalar(select(User).where(User.telegram_chat_id == chat_id))
    if user is None:
        raise NotFound("this chat is not linked to a habitctl account")
    return user


def unlink(db: Session, user: User) -> bool:
    linked = user.telegram_chat_id is not None
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            telegram_chat_id=None, telegram_unreachable_at=None, telegram_unreachable_reason=None
        )
    )
    return linked


@dataclass(frozen=True)
class LinkStatus:
    linked: bool
    reachable: bool
    telegram_username: str | None
    unreachable_since: datetime | None
    unreachable_reason: str | None


def status(user: User) -> LinkStatus:
    return LinkStatus(
        linked=user.telegram_chat_id is not None,
        reachable=user.telegram_chat_id is not None and user.telegram_unreachable_at is None,
        telegram_username=user.telegram_username,
        unreachable_since=user.telegram_unreachable_at,
        unreachable_reason=user.telegram_unreachable_reason,
    )


def bot_username(db: Session) -> str | None:
    return db.scalar(select(AppState.value).where(AppState.key == BOT_USERNAME_KEY))


def remember_bot_username(db: Session, username: str) -> None:
    state = db.get(AppState, BOT_USERNAME_KEY)
    if state is None:
        db.add(AppState(key=BOT_USERNAME_KEY, value=username))
    elif state.value != username:
        state.value = username
