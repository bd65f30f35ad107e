"""The fake Bot API's wire format: request parameters in, Bot API JSON shapes out, and the
sliding-window rate limiter it can enforce. Pure helpers, no server state."""

from __future__ import annotations

import json
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

JSON = dict[str, Any]

# Parameters that are plain strings; every other value is JSON-decoded when it parses
# (PTB JSON-encodes all non-str values: chat_id=42 arrives as "42", markup as a JSON object).
# fmt: off
STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url", "data",
    "query", "description", "short_description", "name", "language_code", "title", "emoji",
    "business_connection_id", "message_effect_id", "secret_token",
})
# fmt: on


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


def _malformed(action: str, payload: JSON) -> JSON:
    """The answer as the emulator gets it wrong: ``date`` in milliseconds, or ``null``."""
    if action == "null_result":
        return {"ok": True, "result": None}
    result = payload.get("result")
    if action == "ms_date" and isinstance(result, dict) and "date" in result:
        return payload | {"result": result | {"date": int(result["date"]) * 1000}}
    return payload


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
