"""Tests of the fake Bot API server, driven by the real python-telegram-bot ``Bot``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from tests.fakebot import FakeBotAPI

T = TypeVar("T")
TOKEN = "123:ABC"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBotAPI) -> FakeBotAPI:
    server.reset()
    return server


def with_bot(fake: FakeBotAPI, scenario: Callable[[Bot], Awaitable[T]], read: float = 0.5) -> T:
    """Run ``scenario`` with an initialized real Bot (getMe included), always shut down."""

    async def main() -> T:
        bot = Bot(
            TOKEN,
            base_url=fake.base_url,
            request=HTTPXRequest(read_timeout=read, connect_timeout=2.0),
            get_updates_request=HTTPXRequest(read_timeout=read, connect_timeout=2.0),
        )
        await bot.initialize()
        try:
            return await scenario(bot)
        finally:
            await bot.shutdown()

    return asyncio.run(main())


def test_get_me_via_initialize(fake: FakeBotAPI) -> None:
    async def scenario(bot: Bot) -> None:
        assert bot.username == "habitctl_test_bot"
        assert bot.id == 123
        assert bot.bot.is_bot

    with_bot(fake, scenario)
    [call] = fake.calls("getMe")
    assert call["token"] == TOKEN
    assert call["status"] == 200
    assert abs(call["wall"] - time.time()) < 5
    assert call["ts"] <= time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux


def test_send_message_records_params_and_echoes_markup(fake: FakeBotAPI) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Done", callback_data="done:42")]])

    async def scenario(bot: Bot) -> None:
        first = await bot.send_message(chat_id=42, text="Drink water", reply_markup=markup)
        second = await bot.send_message(chat_id=42, text="123")
        assert first.text == "Drink water"
        assert first.chat.id == 42
        assert first.chat.type == "private"
        assert first.from_user is not None
        assert first.from_user.username == "habitctl_test_bot"
        assert first.reply_markup == markup
        assert second.message_id == first.message_id + 1
        assert second.text == "123"

    with_bot(fake, scenario)
    first, second = fake.sent_messages()
    assert first["params"] == {
        "chat_id": 42,
        "text": "Drink water",
        "reply_markup": {"inline_keyboard": [[{"text": "Done", "callback_data": "done:42"}]]},
    }
    assert first["content_type"] == "application/x-www-form-urlencoded"
    assert second["params"]["text"] == "123"  # text is never JSON-decoded
    assert second["result"]["message_id"] == first["result"]["message_id"] + 1
    assert first["ts"] <= second["ts"]


@pytest.mark.parametrize(
    ("action", "exc_type", "status"),
    [
        ("403", Forbidden, 403),
        ("400", BadRequest, 400),
        ("500", NetworkError, 500),
        ("drop", NetworkError, 0),
    ],
)
def test_error_actions_raise_ptb_exceptions(
    fake: FakeBotAPI, action: str, exc_type: type[Exception], status: int
) -> None:
    fake.add_rules([{"method": "sendMessage", "chat_id": None, "times": 1, "action": action}])

    async def scenario(bot: Bot) -> None:
        with pytest.raises(exc_type) as info:
            await bot.send_message(chat_id=1, text="hi")
        assert type(info.value) is exc_type  # e.g. not TimedOut for a 500 or a drop
        await bot.send_message(chat_id=1, text="again")  # times=1 was consumed

    with_bot(fake, scenario)
    assert [c["status"] for c in fake.calls("sendMessage")] == [status, 200]
    assert len(fake.sent_messages()) == 1


def test_429_raises_retry_after(fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    fake.add_rules([{"method": "sendMessage", "times": 2, "action": "429", "retry_after": 2}])

    async def scenario(bot: Bot) -> None:
        # PTB 22.8 without PTB_TIMEDELTA: RetryAfter.__init__ itself reads .retry_after, so
        # merely raising it emits a PTBDeprecationWarning (an error under filterwarnings=error).
        with pytest.warns(PTBDeprecationWarning), pytest.raises(RetryAfter) as info:
            await bot.send_message(chat_id=1, text="hi")
        with pytest.warns(PTBDeprecationWarning):
            assert info.value.retry_after == 2
        # With PTB_TIMEDELTA=true it is a timedelta and nothing warns.
        monkeypatch.setenv("PTB_TIMEDELTA", "true")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(chat_id=1, text="hi")
        assert info.value.retry_after == dtm.timedelta(seconds=2)

    with_bot(fake, scenario)
    assert [c["status"] for c in fake.calls("sendMessage")] == [429, 429]


def test_rule_times_and_chat_filter(fake: FakeBotAPI) -> None:
    fake.add_rules({"method": "sendMessage", "chat_id": 7, "times": 2, "action": "403"})

    async def scenario(bot: Bot) -> None:
        await bot.send_message(chat_id=8, text="other chat is unaffected")
        for _ in range(2):
            with pytest.raises(Forbidden):
                await bot.send_message(chat_id=7, text="blocked")
        await bot.send_message(chat_id=7, text="unblocked")

    with_bot(fake, scenario)
    assert [c["status"] for c in fake.calls("sendMessage")] == [200, 403, 403, 200]
    assert fake.rules()[0]["times"] == 0


def test_forever_rule_and_rule_order(fake: FakeBotAPI) -> None:
    fake.add_rules(
        [
            {"method": "sendMessage", "times": 1, "action": "400"},
            {"method": "sendMessage", "times": None, "action": "500"},
        ]
    )

    async def scenario(bot: Bot) -> None:
        with pytest.raises(BadRequest):
            await bot.send_message(chat_id=1, text="x")
        for _ in range(3):
            with pytest.raises(NetworkError):
                await bot.send_message(chat_id=1, text="x")

    with_bot(fake, scenario)
    assert [c["status"] for c in fake.calls("sendMessage")] == [400, 500, 500, 500]


@pytest.mark.parametrize("action", ["slow", "hang"])
def test_slow_beyond_read_timeout_times_out_but_is_delivered(fake: FakeBotAPI, action: str) -> None:
    fake.add_rules({"method": "sendMessage", "times": 1, "action": action, "delay": 1.0})

    async def scenario(bot: Bot) -> None:
        with pytest.raises(TimedOut):
            await bot.send_message(chat_id=5, text="late")

    with_bot(fake, scenario, read=0.3)
    [call] = fake.sent_messages()
    assert call["params"]["text"] == "late"
    assert call["late"] is (action == "hang")


def test_slow_within_read_timeout_succeeds(fake: FakeBotAPI) -> None:
    fake.add_rules({"method": "sendMessage", "times": 1, "action": "slow", "delay": 0.3})

    async def scenario(bot: Bot) -> float:
        start = time.monotonic()
        await bot.send_message(chat_id=5, text="slowly")
        return time.monotonic() - start

    assert with_bot(fake, scenario, read=2.0) >= 0.3
    assert len(fake.sent_messages()) == 1


def test_updates_roundtrip_and_offset(fake: FakeBotAPI) -> None:
    async def scenario(bot: Bot) -> None:
        sent = await bot.send_message(chat_id=42, text="Stretch?")
        await asyncio.to_thread(
            fake.push_updates,
            [
                {"type": "message", "chat_id": 42, "text": "/start CODE", "username": "alice"},
                {"type": "callback", "chat_id": 42, "data": "done:42", "username": "alice"},
            ],
        )
        first, second = await bot.get_updates(timeout=0)
        assert isinstance(first, Update)
        assert first.message is not None
        assert first.message.text == "/start CODE"
        assert first.message.parse_entities(["bot_command"]).popitem()[1] == "/start"
        assert first.message.chat.id == 42
        assert first.effective_user is not None
        assert first.effective_user.username == "alice"
        query = second.callback_query
        assert query is not None
        assert query.data == "done:42"
        assert query.from_user.username == "alice"
        assert query.message is not None
        assert query.message.message_id == sent.message_id  # defaults to the last one sent
        assert query.message.chat.id == 42
        assert second.update_id == first.update_id + 1
        assert await bot.answer_callback_query(query.id) is True
        edited = await bot.edit_message_text("Done!", chat_id=42, message_id=sent.message_id)
        assert isinstance(edited, type(sent))
        assert edited.text == "Done!"
        assert edited.edit_date is not None
        # Re-polling without an offset returns them again; the offset confirms them.
        assert len(await bot.get_updates(timeout=0)) == 2
        assert await bot.get_updates(offset=second.update_id + 1, timeout=0) == ()

    with_bot(fake, scenario)
    assert fake.pending_updates() == []
    [answer] = fake.calls("answerCallbackQuery")
    assert answer["params"]["callback_query_id"].isdigit()


def test_get_updates_limit_and_long_poll(fake: FakeBotAPI) -> None:
    async def scenario(bot: Bot) -> None:
        start = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert time.monotonic() - start >= 0.9  # timeout honoured

        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        start = time.monotonic()
        await asyncio.to_thread(fake.push_updates, {"type": "message", "chat_id": 1, "text": "hi"})
        [update] = await poll
        assert time.monotonic() - start < 1.0  # answered as soon as the update arrived
        assert update.message is not None
        assert update.message.text == "hi"
        assert update.message.entities == ()

        specs = [{"type": "message", "chat_id": 1, "text": str(i)} for i in range(3)]
        await asyncio.to_thread(fake.push_updates, specs)
        got = await bot.get_updates(offset=update.update_id + 1, limit=2, timeout=0)
        assert [u.message.text for u in got if u.message] == ["0", "1"]

    with_bot(fake, scenario)


def test_raw_update_dicts_are_passed_through(fake: FakeBotAPI) -> None:
    raw = {"message": {"message_id": 9, "date": 0, "chat": {"id": 3, "type": "private"}}}
    [built] = fake.push_updates([raw])

    async def scenario(bot: Bot) -> None:
        [update] = await bot.get_updates()
        assert update.update_id == built["update_id"]
        assert update.effective_chat is not None
        assert update.effective_chat.id == 3

    with_bot(fake, scenario)


def test_rate_limiter(fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # see test_429_raises_retry_after
    fake.set_rate_limit(per_chat_per_second=1)

    async def per_chat(bot: Bot) -> None:
        await bot.send_message(chat_id=1, text="a")
        with pytest.raises(RetryAfter):
            await bot.send_message(chat_id=1, text="b")
        await bot.send_message(chat_id=2, text="c")

    with_bot(fake, per_chat)
    assert [c["status"] for c in fake.calls("sendMessage")] == [200, 429, 200]

    fake.reset()
    fake.set_rate_limit(per_second=3)

    async def global_limit(bot: Bot) -> None:
        for chat in range(3):
            await bot.send_message(chat_id=chat, text="ok")
        with pytest.raises(RetryAfter):
            await bot.send_message(chat_id=99, text="too many")

    with_bot(fake, global_limit)
    assert len(fake.sent_messages()) == 3
    assert [c["params"]["chat_id"] for c in fake.calls("sendMessage")] == [0, 1, 2, 99]
    fake.set_rate_limit(None, None)

    async def unlimited(bot: Bot) -> None:
        for _ in range(5):
            await bot.send_message(chat_id=1, text="fine")

    with_bot(fake, unlimited)
    assert len(fake.sent_messages()) == 3 + 5


def test_misc_methods(fake: FakeBotAPI) -> None:
    fake.push_updates({"type": "message", "chat_id": 1, "text": "pending"})

    async def scenario(bot: Bot) -> None:
        assert await bot.set_my_commands([("today", "Show today's habits")]) is True
        assert await bot.delete_webhook(drop_pending_updates=True) is True
        assert await bot.get_updates(timeout=0) == ()

    with_bot(fake, scenario)
    [call] = fake.calls("setMyCommands")
    assert call["params"]["commands"] == [
        {"command": "today", "description": "Show today's habits"}
    ]


def test_raw_http_json_get_and_unknown_method(fake: FakeBotAPI) -> None:
    url = f"{fake.base_url}{TOKEN}"
    with httpx.Client(trust_env=False) as client:
        resp = client.post(f"{url}/sendMessage", json={"chat_id": 5, "text": "json"})
        assert resp.json()["result"]["chat"]["id"] == 5
        resp = client.get(f"{url}/SENDMESSAGE", params={"chat_id": "6", "text": "query"})
        assert resp.json()["result"]["text"] == "query"
        resp = client.post(f"{url}/sendMessage", data={"text": "no chat"})
        assert resp.status_code == 400
        resp = client.post(f"{url}/sendPigeon", data={"chat_id": "1"})
        assert resp.status_code == 404
        assert resp.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
        resp = client.post(f"{fake.control_url}/rules", json=[{"method": "x", "action": "boom"}])
        assert resp.status_code == 400
    assert [c["params"]["chat_id"] for c in fake.sent_messages()] == [5, 6]
    assert [c["status"] for c in fake.calls()] == [200, 200, 400, 404]


def test_down_and_restart(fake: FakeBotAPI) -> None:
    async def scenario(bot: Bot) -> None:
        await asyncio.to_thread(fake.set_down, True)
        with pytest.raises(NetworkError):
            await bot.send_message(chat_id=1, text="lost")
        await asyncio.to_thread(fake.set_down, False)
        await bot.send_message(chat_id=1, text="back")

    with_bot(fake, scenario)
    assert [c["status"] for c in fake.calls("sendMessage")] == [0, 200]

    with FakeBotAPI() as other:
        port = other.port

        async def restart(bot: Bot) -> None:
            await asyncio.to_thread(other.stop)
            with pytest.raises(NetworkError):
                await bot.send_message(chat_id=1, text="nobody home")
            await asyncio.to_thread(other.start)
            await bot.send_message(chat_id=1, text="home again")

        with_bot(other, restart)
        assert other.port == port
        assert [c["params"]["text"] for c in other.sent_messages()] == ["home again"]
    assert not other.running


def test_reset_clears_everything(fake: FakeBotAPI) -> None:
    fake.add_rules({"method": "sendMessage", "action": "403"})
    fake.set_rate_limit(per_second=1)
    fake.push_updates({"type": "message", "chat_id": 1, "text": "x"})
    fake.set_down(True)
    fake.reset()
    assert (fake.calls(), fake.rules(), fake.pending_updates()) == ([], [], [])

    async def scenario(bot: Bot) -> Any:
        return [await bot.send_message(chat_id=1, text=str(i)) for i in range(3)]

    assert len(with_bot(fake, scenario)) == 3
