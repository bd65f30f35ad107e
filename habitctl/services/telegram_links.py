"""Linking a Telegram chat to an account with one-time `/start <code>` codes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from habitctl.errors import Conflict, NotFound
from habitctl.services.accounts import contact
from habitctl.storage.models import AppState, TelegramLinkCode, User, UserContact

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
    holder = db.scalar(select(UserContact).where(UserContact.telegram_chat_id == chat_id))
    if holder is not None and holder.user_id != link.user_id:
        raise Conflict("this chat is already linked to another account: unlink it there first")
    user = db.get(User, link.user_id)
    assert user is not None
    reach = contact(user)
    link.used_at = now
    reach.telegram_chat_id = chat_id
    reach.telegram_unreachable_at = None
    reach.telegram_unreachable_reason = None
    if username and not reach.telegram_username:
        reach.telegram_username = username
    return user


def user_for_chat(db: Session, chat_id: int) -> User:
    user = db.scalar(
        select(User)
        .join(UserContact, UserContact.user_id == User.id)
        .where(UserContact.telegram_chat_id == chat_id)
    )
    if user is None:
        raise NotFound("this chat is not linked to a habitctl account")
    return user


def unlink(db: Session, user: User) -> bool:
    """Forget the user's chat. On PostgreSQL through a function: the CLI's role may clear its
    own chat but never write a chat id (that would let it point reminders at a stranger)."""
    linked = contact(user).telegram_chat_id is not None
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.habitctl_unlink_telegram()))
        db.expire(contact(user))
    else:
        db.execute(
            update(UserContact)
            .where(UserContact.user_id == user.id)
            .values(
                telegram_chat_id=None,
                telegram_unreachable_at=None,
                telegram_unreachable_reason=None,
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
    reach = contact(user)
    return LinkStatus(
        linked=reach.telegram_chat_id is not None,
        reachable=reach.telegram_chat_id is not None and reach.telegram_unreachable_at is None,
        telegram_username=reach.telegram_username,
        unreachable_since=reach.telegram_unreachable_at,
        unreachable_reason=reach.telegram_unreachable_reason,
    )


def bot_username(db: Session) -> str | None:
    return db.scalar(select(AppState.value).where(AppState.key == BOT_USERNAME_KEY))


def remember_bot_username(db: Session, username: str) -> None:
    state = db.get(AppState, BOT_USERNAME_KEY)
    if state is None:
        db.add(AppState(key=BOT_USERNAME_KEY, value=username))
    elif state.value != username:
        state.value = username
