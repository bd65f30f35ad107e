"""A member's path through the booted stack: the CLI in a container, Telegram played by the fake.

The fake Bot API (tests/fakebot.py) runs in a container of the habitctl image on the stack's
network, as `fakebot`; the daemon reaches it through TELEGRAM_API_BASE_URL in .env. Its control
API is published on 127.0.0.1 only, for this check to read what the daemon sent.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bootcheck.host import CheckFailed, log, run, wait_for
from bootcheck.stack import Stack

FAKEBOT_PORT = 8081
CHAT_ID = 5150
# A fresh password for each run, also looked for in the logs.
PASSWORD = f"member-{secrets.token_hex(8)}"


def start_fakebot(root: Path, image: str, network: str, name: str, host_port: int) -> None:
    run(
        ["podman", "run", "-d", "--name", name, "--network", network, "--network-alias", "fakebot",
         "-p", f"127.0.0.1:{host_port}:{FAKEBOT_PORT}", "--no-healthcheck",
         "-v", f"{root / 'tests'}:/opt/fakebot/tests:ro", "-w", "/opt/fakebot", image,
         "python", "-m", "tests.fakebot", "--host", "0.0.0.0", "--port", str(FAKEBOT_PORT)],  # noqa: S104 - the container's own network
    )  # fmt: skip
    wait_for("fake Bot API answering", lambda: _control(host_port, "calls") is not None, 60)


def _control(port: int, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_control/{path}", data=data, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())
    except OSError:
        return None


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class Member:
    """`docker compose --profile cli run --rm cli …`, as the README tells members."""

    def __init__(self, stack: Stack, username: str) -> None:
        self.stack = stack
        self.username = username

    def cli(self, *args: str, input: str | None = None, deps: bool = False) -> str:
        """One `--rm` container; `deps` also brings up `db` first, as a member's first call does."""
        run_args = ("run", "--rm") if deps else ("run", "--rm", "--no-deps")
        return self.stack("--profile", "cli", *run_args, "cli", *args, input=input, timeout=180)

    def cli_json(self, *args: str) -> Any:
        out = self.cli(*args, "--json")
        try:
            return json.loads(out)
        except ValueError as exc:
            raise CheckFailed(f"habitctl {' '.join(args)} --json printed no JSON: {out!r}") from exc

    def sign_up(self) -> None:
        for verb in ("register", "login"):
            self.cli(verb, "--username", self.username, "--password-stdin",
                     input=PASSWORD + "\n", deps=verb == "register")  # fmt: skip

    def link_telegram(self, fakebot_port: int) -> float:
        """`telegram link`, then `/start <code>` sent to the bot: the daemon links the chat."""
        code = self.cli_json("telegram", "link")["code"]
        start = time.monotonic()
        update = {"type": "message", "chat_id": CHAT_ID, "username": self.username,
                  "text": f"/start {code}"}  # fmt: skip
        if _control(fakebot_port, "updates", update) is None:
            raise CheckFailed("the fake Bot API did not take the /start update")

        def linked() -> bool:
            return bool(self.cli_json("telegram", "status").get("linked"))

        try:
            wait_for("the daemon linking the Telegram chat", linked, 120, every=5)
        except CheckFailed as exc:
            calls = _control(fakebot_port, "calls") or []
            raise CheckFailed(
                f"{exc}: the daemon made {len(calls)} Bot API calls "
                f"({sorted({c['method'] for c in calls})}); reminders cannot arrive"
            ) from None
        return time.monotonic() - start

    def add_habit_due_next_minute(self) -> tuple[dict[str, Any], datetime]:
        """A habit due at the first full minute at least 60 s away (a loaded machine may take
        20 s to run one `--rm` container: a minute already begun would be tomorrow's)."""
        due = (datetime.now(UTC) + timedelta(seconds=119)).replace(second=0, microsecond=0)
        sentence = f"I will stretch at {due:%H:%M} in the kitchen"
        habit = self.cli_json("add", sentence, "--reward", "tea", "--public")
        if habit.get("next_reminder_at") != f"{due:%Y-%m-%dT%H:%M:%SZ}":
            raise CheckFailed(f"the habit's next reminder is not {due:%H:%M} UTC today: {habit}")
        return habit, due


def wait_for_reminder(fakebot_port: int, due: datetime) -> float:
    """Seconds from the due minute to the reminder reaching the fake Bot API; exactly once."""

    def sent() -> list[dict[str, Any]]:
        calls = _control(fakebot_port, "calls?method=sendMessage") or []
        return [c for c in calls if c["params"].get("chat_id") == CHAT_ID
                and "stretch" in str(c["params"].get("text"))]  # fmt: skip

    budget = max((due - datetime.now(UTC)).total_seconds(), 0) + 150
    try:
        wait_for("the reminder reaching the fake Bot API", lambda: bool(sent()), budget, every=3)
    except CheckFailed:
        raise CheckFailed(
            f"no reminder for the habit due at {due:%H:%M} UTC arrived within {budget:.0f} s"
        ) from None
    late = (datetime.now(UTC) - due).total_seconds()
    log(f"reminder arrived {late:.0f} s after the due minute; watching 25 s for a duplicate")
    time.sleep(25)
    if len(sent()) != 1:
        raise CheckFailed(f"the reminder arrived {len(sent())} times, not once")
    return late
