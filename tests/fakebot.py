"""A fake Telegram Bot API server for tests and benchmarks.

Run it as a process::

    python -m tests.fakebot --port 8081 [--host 127.0.0.1]

and point python-telegram-bot at it with ``base_url="http://127.0.0.1:8081/bot"``.

* Bot API: ``POST|GET /bot{token}/{method}`` (form-urlencoded, multipart, JSON or query).
* Control API (JSON): ``/_control/{reset,calls,rules,rate_limit,updates,down,transit}``.
  ``transit`` makes each ``sendMessage`` arrive (be counted, timestamped) a random 0 to
  ``max_delay`` seconds after the request came, as a message held up on its way would.

:class:`tests.fakebot_client.FakeBotAPI` spawns the server as a subprocess and drives the
control API.

Malformed answers, as seen from the independent emulator telegram-test-api, can be asked for
with rules: ``ms_date`` (a sendMessage/editMessageText result whose ``date`` is in
milliseconds) and ``null_result`` (``{"ok": true, "result": null}``). An update without
``date`` is pushed as a raw Update dict.
All state lives in memory in a single asyncio loop, so no locks are needed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakebot_wire import (
    RateLimiter,
    _as_int,
    _chat,
    _error,
    _malformed,
    _parse_params,
    _reply,
    _user,
)

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parent.parent
ACTIONS = frozenset({"429", "403", "400", "500", "slow", "hang", "drop", "ms_date", "null_result"})
MALFORMED = frozenset({"ms_date", "null_result"})  # the effect happens, the answer is odd
ERRORS: dict[str, tuple[int, str]] = {
    "403": (403, "Forbidden: bot was blocked by the user"),
    "400": (400, "Bad Request: chat not found"),
    "500": (500, "Internal Server Error"),
}
RATE_LIMITED = frozenset({"sendMessage", "editMessageText"})
_RAW_SEND: contextvars.ContextVar[Send | None] = contextvars.ContextVar("raw_send", default=None)


class FakeTelegram:
    """In-memory state plus the ASGI app (``self``) of the fake Bot API."""

    def __init__(self) -> None:
        self.update_ids = itertools.count(1)  # ids stay monotonic across resets
        self.message_ids = itertools.count(1)
        self.callback_ids = itertools.count(1)
        self.bot_id = 123
        self.reset()
        self.handlers: dict[str, Callable[[JSON, str], Awaitable[tuple[int, JSON]]]] = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "getUpdates": self.get_updates,
            "answerCallbackQuery": self.true,
            "editMessageText": self.edit_message_text,
            "deleteWebhook": self.delete_webhook,
            "setMyCommands": self.true,
            "close": self.true,
            "logOut": self.true,
        }
        self.canonical = {name.lower(): name for name in self.handlers}
        ctl = "/_control"
        self.starlette = Starlette(
            routes=[
                Route("/bot{token}/{method}", self.bot_api, methods=["GET", "POST"]),
                Route(f"{ctl}/reset", self.ctl_reset, methods=["POST"]),
                Route(f"{ctl}/calls", self.ctl_calls, methods=["GET"]),
                Route(f"{ctl}/rules", self.ctl_rules, methods=["GET", "POST", "DELETE"]),
                Route(f"{ctl}/rate_limit", self.ctl_rate_limit, methods=["POST"]),
                Route(f"{ctl}/updates", self.ctl_updates, methods=["GET", "POST"]),
                Route(f"{ctl}/down", self.ctl_down, methods=["POST"]),
                Route(f"{ctl}/transit", self.ctl_transit, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        self.calls: list[JSON] = []
        self.rules: list[JSON] = []
        self.updates: list[JSON] = []
        self.updates_event = asyncio.Event()
        self.limiter: RateLimiter | None = None
        self.down = False
        self.transit = 0.0
        self.last_message: dict[int, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _RAW_SEND.set(send)  # uvicorn's own send, whose __self__ owns the transport (for "drop")
        await self.starlette(scope, receive, send)

    # ----------------------------------------------------------------- Bot API
    async def bot_api(self, request: Request) -> Response:
        token, raw_method = request.path_params["token"], request.path_params["method"]
        method = self.canonical.get(raw_method.lower(), raw_method)
        if self.transit and method == "sendMessage":
            await asyncio.sleep(random.uniform(0, self.transit))
        ts, wall = time.monotonic(), time.time()
        try:
            params = await _parse_params(request)
        except ValueError:
            params = {}
        call: JSON = {
            "method": method,
            "token": token,
            "params": params,
            "ts": ts,
            "wall": wall,
            "status": 0,
            "late": False,
            "content_type": request.headers.get("content-type", ""),
        }
        self.calls.append(call)
        if self.down:
            return await self._drop(call)
        handler = self.handlers.get(method)
        if handler is None:
            call["status"] = 404
            return _reply(404, _error(404, "Not Found: method not found"))
        delay = 0.0
        rule = self._match_rule(method, params)
        if rule is not None:
            action = rule["action"]
            if action == "drop":
                return await self._drop(call)
            if action == "429":
                retry_after = int(rule.get("retry_after") or 1)
                call["status"] = 429
                desc = f"Too Many Requests: retry after {retry_after}"
                return _reply(429, _error(429, desc, retry_after=retry_after))
            if action in ERRORS:
                code, desc = ERRORS[action]
                call["status"] = code
                return _reply(code, _error(code, desc))
            if action not in MALFORMED:
                delay = float(rule.get("delay", 1.0))
                call["late"] = action == "hang"
        limiter = self.limiter
        if limiter and method in RATE_LIMITED and not limiter.allow(params.get("chat_id"), ts):
            call["status"] = 429
            return _reply(429, _error(429, "Too Many Requests: retry after 1", retry_after=1))
        # The effect happens on arrival; slow/hang only delay the answer.
        status, payload = await handler(params, token)
        if rule is not None and status == 200:
            payload = _malformed(rule["action"], payload)
        call["status"] = status
        if status == 200:
            call["result"] = payload["result"]
        if delay > 0:
            await asyncio.sleep(delay)
        return _reply(status, payload)

    async def _drop(self, call: JSON) -> Response:
        send = _RAW_SEND.get()
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:  # not uvicorn's h11/httptools: fall back to a bad gateway
            call["status"] = 502
            return _reply(502, _error(502, "Bad Gateway"))
        transport.close()
        for _ in range(50):  # let connection_lost() run so uvicorn sends nothing
            await asyncio.sleep(0)
            if getattr(cycle, "disconnected", True):
                break
        call["status"] = 0
        return Response(b"", status_code=502)

    def _match_rule(self, method: str, params: JSON) -> JSON | None:
        for rule in self.rules:
            if rule["method"] not in (None, "*", method):
                continue
            chat = rule.get("chat_id")
            if chat is not None and str(chat) != str(params.get("chat_id")):
                continue
            times = rule.get("times")
            if times is not None:
                if times <= 0:
                    continue
                rule["times"] = times - 1
            return rule
        return None

    def bot_user(self, token: str | None = None) -> JSON:
        if token:
            self.bot_id = _as_int(token.split(":", 1)[0], self.bot_id)
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "habitctl",
            "username": "habitctl_test_bot",
        }

    async def true(self, params: JSON, token: str) -> tuple[int, JSON]:
        return 200, {"ok": True, "result": True}

    async def get_me(self, params: JSON, token: str) -> tuple[int, JSON]:
        me = self.bot_user(token) | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        return 200, {"ok": True, "result": me}

    def _message(self, token: str, chat_id: int, text: str, params: JSON, mid: int) -> JSON:
        msg: JSON = {
            "message_id": mid,
            "from": self.bot_user(token),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup  # Telegram only echoes inline keyboards
        if isinstance(params.get("entities"), list):
            msg["entities"] = params["entities"]
        return msg

    def _check_chat(self, params: JSON) -> tuple[int, JSON] | None:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            return 400, _error(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            return 400, _error(400, "Bad Request: chat not found")
        if not params.get("text"):
            return 400, _error(400, "Bad Request: message text is empty")
        return None

    async def send_message(self, params: JSON, token: str) -> tuple[int, JSON]:
        if (err := self._check_chat(params)) is not None:
            return err
        chat_id = params["chat_id"]
        mid = next(self.message_ids)
        self.last_message[chat_id] = mid
        msg = self._message(token, chat_id, params["text"], params, mid)
        return 200, {"ok": True, "result": msg}

    async def edit_message_text(self, params: JSON, token: str) -> tuple[int, JSON]:
        if params.get("inline_message_id"):
            return 200, {"ok": True, "result": True}
        if (err := self._check_chat(params)) is not None:
            return err
        if not isinstance(params.get("message_id"), int):
            return 400, _error(400, "Bad Request: message identifier is not specified")
        msg = self._message(token, params["chat_id"], params["text"], params, params["message_id"])
        msg["edit_date"] = msg["date"]
        return 200, {"ok": True, "result": msg}

    async def delete_webhook(self, params: JSON, token: str) -> tuple[int, JSON]:
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return 200, {"ok": True, "result": True}

    async def get_updates(self, params: JSON, token: str) -> tuple[int, JSON]:
        offset = _as_int(params.get("offset"), 0)
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if not self.updates and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.updates_event.wait(), timeout)
        return 200, {"ok": True, "result": self.updates[:limit]}

    # ----------------------------------------------------------------- updates
    def build_update(self, spec: JSON) -> JSON:
        kind = spec.get("type")
        if kind is None:  # already a raw Update dict
            update = dict(spec)
            update.setdefault("update_id", next(self.update_ids))
            return update
        chat_id = int(spec["chat_id"])
        username, first_name = spec.get("username"), spec.get("first_name")
        user = _user(int(spec.get("user_id", chat_id)), username, first_name)
        chat = _chat(chat_id, username, first_name)
        now = int(spec.get("date", time.time()))
        if kind == "message":
            text = str(spec.get("text", ""))
            msg: JSON = {
                "message_id": next(self.message_ids),
                "from": user,
                "chat": chat,
                "date": now,
                "text": text,
            }
            if text.startswith("/"):
                msg["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}
                ]
            return {"update_id": next(self.update_ids), "message": msg}
        if kind == "callback":
            mid = spec.get("message_id") or self.last_message.get(chat_id) or next(self.message_ids)
            message = {
                "message_id": int(mid),
                "from": self.bot_user(),
                "chat": chat,
                "date": now,
                "text": str(spec.get("message_text", "Reminder")),
            }
            query = {
                "id": str(4_000_000_000 + next(self.callback_ids)),
                "from": user,
                "message": message,
                "chat_instance": str(abs(chat_id) * 7919 + 11),
                "data": str(spec.get("data", "")),
            }
            return {"update_id": next(self.update_ids), "callback_query": query}
        raise ValueError(f"unknown update type {kind!r}")

    # ----------------------------------------------------------------- control
    async def ctl_reset(self, request: Request) -> Response:
        self.updates_event.set()  # release pending long polls
        self.reset()
        return _reply(200, {"ok": True})

    async def ctl_calls(self, request: Request) -> Response:
        method = request.query_params.get("method")
        calls = self.calls if method is None else [c for c in self.calls if c["method"] == method]
        return _reply(200, calls)

    async def ctl_rules(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.rules.clear()
        elif request.method == "POST":
            body = json.loads(await request.body() or b"[]")
            new = [body] if isinstance(body, dict) else list(body)
            for rule in new:
                if str(rule.get("action")) not in ACTIONS or "method" not in rule:
                    return _reply(400, {"ok": False, "description": f"bad rule {rule!r}"})
                rule["action"] = str(rule["action"])
            self.rules.extend(new)
        return _reply(200, self.rules)

    async def ctl_rate_limit(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"null") or {}
        per_second, per_chat = body.get("per_second"), body.get("per_chat_per_second")
        self.limiter = (
            None if per_second is None and per_chat is None else RateLimiter(per_second, per_chat)
        )
        return _reply(200, {"ok": True})

    async def ctl_updates(self, request: Request) -> Response:
        if request.method == "GET":
            return _reply(200, self.updates)
        body = json.loads(await request.body() or b"[]")
        try:
            built = [self.build_update(s) for s in ([body] if isinstance(body, dict) else body)]
        except (KeyError, ValueError, TypeError) as exc:
            return _reply(400, {"ok": False, "description": repr(exc)})
        self.updates.extend(built)
        event, self.updates_event = self.updates_event, asyncio.Event()
        event.set()
        return _reply(200, built)

    async def ctl_transit(self, request: Request) -> Response:
        self.transit = float(json.loads(await request.body() or b"{}").get("max_delay", 0.0))
        return _reply(200, {"ok": True, "max_delay": self.transit})

    async def ctl_down(self, request: Request) -> Response:
        self.down = bool(json.loads(await request.body() or b"{}").get("down", True))
        return _reply(200, {"ok": True, "down": self.down})


# The client that starts this server and drives its control API lives beside it.
from tests.fakebot_client import FakeBotAPI  # noqa: E402

__all__ = ["FakeBotAPI", "FakeTelegram", "create_app"]


def create_app() -> FakeTelegram:
    return FakeTelegram()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_level="warning",
        loop="asyncio",
        http="h11",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
