"""A fake Telegram Bot API server for tests and benchmarks.

Run it as a process::

    python -m tests.fakebot --port 8081 [--host 127.0.0.1]

and point python-telegram-bot at it with ``base_url="http://127.0.0.1:8081/bot"``.

* Bot API: ``POST|GET /bot{token}/{method}`` (form-urlencoded, multipart, JSON or query).
* Control API (JSON): ``/_control/{reset,calls,rules,rate_limit,updates,down}``.

:class:`FakeBotAPI` spawns the server as a subprocess and drives the control API.
All state lives in memory in a single asyncio loop, so no locks are needed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parent.parent
ACTIONS = frozenset({"429", "403", "400", "500", "slow", "hang", "drop"})
ERRORS: dict[str, tuple[int, str]] = {
    "403": (403, "Forbidden: bot was blocked by the user"),
    "400": (400, "Bad Request: chat not found"),
    "500": (500, "Internal Server Error"),
}
# Parameters that are plain strings; every other value is JSON-decoded when it parses
# (PTB JSON-encodes all non-str values: chat_id=42 arrives as "42", markup as a JSON object).
# fmt: off
STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url", "data",
    "query", "description", "short_description", "name", "language_code", "title", "emoji",
    "business_connection_id", "message_effect_id", "secret_token",
})
# fmt: on
RATE_LIMITED = frozenset({"sendMessage", "editMessageText"})
_RAW_SEND: contextvars.ContextVar[Send | None] = contextvars.ContextVar("raw_send", default=None)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _reply(status: int, payload: Any) -> Response:
    return Response(_dumps(payload), status_code=status, media_type="application/json")


def _error(code: int, description: str, **parameters: Any) -> JSON:
    out: JSON = {"ok": False, "error_code": code, "description": description}
    if parameters:
        out["parameters"] = parameters
    return out


def _decode(key: str, value: str) -> Any:
    if key in STRING_PARAMS or not value:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    boundary = content_type.partition("boundary=")[2].split(";")[0].strip().strip('"')
    fields: list[tuple[str, str]] = []
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, value = part.strip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode(errors="replace")
        if "filename=" in disposition or 'name="' not in disposition:
            continue  # uploaded files are not interpreted
        fields.append((disposition.split('name="', 1)[1].split('"', 1)[0], value.decode()))
    return fields


async def _parse_params(request: Request) -> JSON:
    pairs: list[tuple[str, str]] = list(request.query_params.multi_items())
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    if body and ctype.startswith("application/json"):
        data = json.loads(body)
        params: JSON = {k: _decode(k, v) for k, v in pairs}
        params.update(data if isinstance(data, dict) else {})
        return params
    if body and ctype.startswith("multipart/form-data"):
        pairs += _parse_multipart(body, ctype)
    elif body:
        pairs += parse_qsl(body.decode(), keep_blank_values=True)
    return {k: _decode(k, v) for k, v in pairs}


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _names(username: str | None, first_name: str | None) -> JSON:
    names: JSON = {"first_name": first_name or username or "User"}
    return names | ({"username": username} if username else {})


def _chat(chat_id: int, username: str | None = None, first_name: str | None = None) -> JSON:
    if chat_id < 0:
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Test group"}
    return {"id": chat_id, "type": "private"} | _names(username, first_name)


def _user(user_id: int, username: str | None, first_name: str | None) -> JSON:
    user: JSON = {"id": user_id, "is_bot": False, "language_code": "en"}
    return user | _names(username, first_name)


class RateLimiter:
    """Sliding one-second windows: global and per chat. ``None`` disables a limit."""

    def __init__(self, per_second: int | None, per_chat_per_second: int | None) -> None:
        self.per_second = per_second
        self.per_chat = per_chat_per_second
        self.window: deque[float] = deque()
        self.chats: dict[Any, deque[float]] = {}

    @staticmethod
    def _full(q: deque[float], limit: int | None, now: float) -> bool:
        while q and now - q[0] >= 1.0:
            q.popleft()
        return limit is not None and len(q) >= limit

    def allow(self, chat_id: Any, now: float) -> bool:
        chat_q = self.chats.setdefault(chat_id, deque()) if self.per_chat is not None else None
        if self._full(self.window, self.per_second, now):
            return False
        if chat_q is not None and self._full(chat_q, self.per_chat, now):
            return False
        self.window.append(now)
        if chat_q is not None:
            chat_q.append(now)
        return True


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
            ]
        )

    def reset(self) -> None:
        self.calls: list[JSON] = []
        self.rules: list[JSON] = []
        self.updates: list[JSON] = []
        self.updates_event = asyncio.Event()
        self.limiter: RateLimiter | None = None
        self.down = False
        self.last_message: dict[int, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _RAW_SEND.set(send)  # uvicorn's own send, whose __self__ owns the transport (for "drop")
        await self.starlette(scope, receive, send)

    # ----------------------------------------------------------------- Bot API
    async def bot_api(self, request: Request) -> Response:
        ts, wall = time.monotonic(), time.time()
        token, raw_method = request.path_params["token"], request.path_params["method"]
        method = self.canonical.get(raw_method.lower(), raw_method)
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
            delay = float(rule.get("delay", 1.0))
            call["late"] = action == "hang"
        limiter = self.limiter
        if limiter and method in RATE_LIMITED and not limiter.allow(params.get("chat_id"), ts):
            call["status"] = 429
            return _reply(429, _error(429, "Too Many Requests: retry after 1", retry_after=1))
        # The effect happens on arrival; slow/hang only delay the answer.
        status, payload = await handler(params, token)
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

    async def ctl_down(self, request: Request) -> Response:
        self.down = bool(json.loads(await request.body() or b"{}").get("down", True))
        return _reply(200, {"ok": True, "down": self.down})


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


# --------------------------------------------------------------------- client
def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class FakeBotAPI:
    """Runs ``python -m tests.fakebot`` in a subprocess and drives its control API."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 10.0
    ) -> None:
        self.host = host
        self.port: int = port or 0
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client = httpx.Client(timeout=10.0, trust_env=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.port}/_control"

    def start(self) -> Self:
        """Start (or restart on the same port) the server; waits until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self._client.is_closed:
            self._client = httpx.Client(timeout=10.0, trust_env=False)
        fixed = bool(self.port)
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
        )
        log = b""
        for _ in range(1 if fixed else 5):
            self.stop()
            self.port = self.port if fixed else _free_port(self.host)
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
            cmd = [sys.executable, "-m", "tests.fakebot", "--host", self.host]
            self.proc = subprocess.Popen(
                [*cmd, "--port", str(self.port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
            )
            if self._wait_ready():
                return self
            self._log.seek(0)
            log = self._log.read()
        self.stop()
        raise RuntimeError(f"fake Bot API did not start on port {self.port}: {log.decode()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(httpx.TransportError):
                resp = self._client.get(f"{self.control_url}/calls?method=_ping")
                if resp.status_code == 200:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the server process (the port is kept, so ``start()`` restarts on it)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        self._client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        resp = self._client.get(f"{self.control_url}/{path}", params=params)
        resp.raise_for_status()
        return resp.json()

    def _post(self, path: str, payload: Any = None) -> Any:
        resp = self._client.post(f"{self.control_url}/{path}", json=payload)
        resp.raise_for_status()
        return resp.json()

    def calls(self, method: str | None = None) -> list[JSON]:
        return list(self._get("calls", {"method": method} if method else None))

    def sent_messages(self) -> list[JSON]:
        """Successful ``sendMessage`` calls (including slow/hang ones: they were delivered)."""
        return [c for c in self.calls("sendMessage") if c["status"] == 200]

    def wait_for_calls(
        self, method: str, count: int, timeout: float = 5.0, ok_only: bool = True
    ) -> list[JSON]:
        """Poll until ``count`` calls of ``method`` (status 200 if ``ok_only``) were recorded."""
        deadline = time.monotonic() + timeout
        while True:
            calls = [c for c in self.calls(method) if not ok_only or c["status"] == 200]
            if len(calls) >= count or time.monotonic() > deadline:
                return calls
            time.sleep(0.02)

    def add_rules(self, rules: Iterable[JSON] | JSON) -> list[JSON]:
        return list(self._post("rules", [rules] if isinstance(rules, dict) else list(rules)))

    def rules(self) -> list[JSON]:
        """Current rules, with ``times`` showing what is left."""
        return list(self._get("rules"))

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a ``getUpdates`` offset."""
        return list(self._get("updates"))

    def clear_rules(self) -> None:
        self._client.delete(f"{self.control_url}/rules").raise_for_status()

    def set_rate_limit(
        self, per_second: int | None = None, per_chat_per_second: int | None = None
    ) -> None:
        self._post(
            "rate_limit", {"per_second": per_second, "per_chat_per_second": per_chat_per_second}
        )

    def push_updates(self, updates: Iterable[JSON] | JSON) -> list[JSON]:
        """Queue updates (shortcuts or raw dicts); returns the full Update dicts built."""
        specs = [updates] if isinstance(updates, dict) else list(updates)
        return list(self._post("updates", specs))

    def set_down(self, down: bool = True) -> None:
        self._post("down", {"down": down})

    def reset(self) -> None:
        self._post("reset")


if __name__ == "__main__":
    main()
