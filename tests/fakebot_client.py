"""The client side of the fake Telegram Bot API: start the server, drive its control API.

:class:`FakeBotAPI` runs ``python -m tests.fakebot`` in a subprocess on a free port (or a
given one, so it can be restarted in place) and wraps ``/_control/*``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Self

import httpx

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parent.parent


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

    def set_transit(self, max_delay: float) -> None:
        """Each sendMessage arrives a random 0..max_delay seconds after it was sent."""
        self._post("transit", {"max_delay": max_delay})

    def push_updates(self, updates: Iterable[JSON] | JSON) -> list[JSON]:
        """Queue updates (shortcuts or raw dicts); returns the full Update dicts built."""
        specs = [updates] if isinstance(updates, dict) else list(updates)
        return list(self._post("updates", specs))

    def set_down(self, down: bool = True) -> None:
        self._post("down", {"down": down})

    def reset(self) -> None:
        self._post("reset")
