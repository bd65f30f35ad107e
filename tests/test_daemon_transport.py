"""The daemon's python-telegram-bot transport on aiohttp (`daemon/transport.py`), against the
fake Bot API: a reply comes back whole, a slow answer is `TimedOut`, a failure to connect is a
`NetworkError` whose text never carries the bot token."""

from __future__ import annotations

import asyncio
import json

import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from daemon.telegram import keyboard, keyboard_json, make_bot
from daemon.transport import AiohttpRequest
from tests.daemon_harness import BOT_TOKEN
from tests.fakebot import FakeBotAPI
from tests.pg import free_port


def send_message(chat_id: int) -> RequestData:
    return RequestData(
        [
            RequestParameter.from_input("chat_id", chat_id),
            RequestParameter.from_input("text", "⏰ a walk"),
        ]
    )


async def post(request: AiohttpRequest, url: str, data: RequestData) -> tuple[int, bytes]:
    await request.initialize()
    try:
        return await request.do_request(url, "POST", data)
    finally:
        await request.shutdown()


def test_a_message_is_posted_as_a_form_and_its_answer_read_whole(fake_bot: FakeBotAPI) -> None:
    url = f"{fake_bot.base_url}{BOT_TOKEN}/sendMessage"
    status, body = asyncio.run(post(AiohttpRequest(), url, send_message(555_100)))
    assert status == 200
    answer = json.loads(body)
    assert answer["ok"] is True
    assert answer["result"]["text"] == "⏰ a walk"
    [call] = fake_bot.sent_messages()
    assert int(call["params"]["chat_id"]) == 555_100


def test_an_answer_slower_than_the_read_timeout_is_timed_out(fake_bot: FakeBotAPI) -> None:
    fake_bot.add_rules({"method": "sendMessage", "action": "slow", "delay": 2.0})
    url = f"{fake_bot.base_url}{BOT_TOKEN}/sendMessage"
    with pytest.raises(TimedOut):
        asyncio.run(post(AiohttpRequest(read_timeout=0.5), url, send_message(555_101)))


def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    url = f"http://127.0.0.1:{free_port()}/bot{BOT_TOKEN}/sendMessage"
    with pytest.raises(NetworkError) as raised:
        asyncio.run(post(AiohttpRequest(connect_timeout=1.0), url, send_message(555_102)))
    assert not isinstance(raised.value, TimedOut)
    assert BOT_TOKEN not in str(raised.value)
    assert "TEST-SECRET" not in str(raised.value)


def test_the_bot_talks_to_the_fake_through_it(fake_bot: FakeBotAPI) -> None:
    async def run() -> str:
        bot = make_bot(BOT_TOKEN, fake_bot.base_url, connections=2)
        await bot.initialize()
        try:
            message = await bot.send_message(555_103, "⏰ a stretch")
        finally:
            await bot.shutdown()
        return message.text or ""

    assert asyncio.run(run()) == "⏰ a stretch"


def test_a_request_before_initialize_says_so() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        asyncio.run(AiohttpRequest().do_request("http://127.0.0.1:9/x", "POST"))


def test_a_reminder_keyboard_is_the_json_python_telegram_bot_would_send() -> None:
    """`keyboard_json` skips PTB's objects; what it sends must be what PTB would have sent."""
    rows = [[("Done ✅", "d:1:ab"), ("Later ⏰", "l:1:cd"), ("Skip", "s:1:ef")]]
    assert json.loads(keyboard_json(rows)) == keyboard(rows).to_dict()
    parameter = RequestParameter.from_input("reply_markup", keyboard_json(rows))
    assert json.loads(parameter.json_value or "") == json.loads(keyboard(rows).to_json())
