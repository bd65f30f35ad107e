"""The daemon's ceiling (SPEC §11): a bare aiohttp client posting the daemon's `sendMessage`.

The same requests the daemon sends (form-encoded `chat_id`, `text` and a one-button
`reply_markup`, as python-telegram-bot encodes them), to the same fake Bot API
(`tests/fakebot.py`), with the same concurrency (32 in flight), each reply read and parsed.
No database, no bookkeeping: what one Python process can push through that fake on this
machine. `benchmarks/daemon.py` measures it in the same run as the daemon; the daemon's
share of it is the budget (≥ 50 %).

The rate is counted where the daemon's is: at the fake, (n − 1) / (last − first arrival).

    python benchmarks/ceiling_daemon.py [--messages 10000] [--concurrency 32]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository root, not benchmarks/

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import aiohttp  # noqa: E402

from benchmarks.common import busy_cpu_seconds, machine  # noqa: E402
from tests.daemon_harness import BOT_TOKEN  # noqa: E402
from tests.fakebot import FakeBotAPI  # noqa: E402

FIRST_CHAT_ID = 5_000_000_000  # far from the chats the daemon benchmark's users have


@dataclass
class Ceiling:
    messages: int
    concurrency: int
    accepted: int
    distinct: int
    at_fake_per_second: float
    client_per_second: float
    machine_cpu_ms: float = 0.0  # the whole machine's busy CPU per accepted message


def reminder_form(chat_id: int) -> dict[str, str]:
    """One reminder as python-telegram-bot posts it (values JSON-encoded where not plain)."""
    button = {"text": "Done ✅", "callback_data": f"done:{chat_id}:20261202"}
    keyboard = {"inline_keyboard": [[button]]}
    return {
        "chat_id": str(chat_id),
        "text": "⏰ 07:30 — I will do 20 push-ups after coffee in the living room (≤ 90 s). "
        "Then: a cup of tea.",
        "reply_markup": json.dumps(keyboard, ensure_ascii=False),
    }


async def _send_all(url: str, chat_ids: list[int], concurrency: int) -> int:
    """Post every message with `concurrency` workers sharing one pooled session; the count
    of replies that were `ok`."""
    queue = iter(chat_ids)
    accepted = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal accepted
            for chat_id in queue:
                async with session.post(url, data=reminder_form(chat_id)) as resp:
                    reply = json.loads(await resp.read())
                    accepted += bool(resp.status == 200 and reply.get("ok"))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


def measure_ceiling(fake: FakeBotAPI, messages: int, concurrency: int = 32) -> Ceiling:
    """Send `messages` reminders to `fake` (reset first and after) and count them there."""
    fake.reset()
    chat_ids = list(range(FIRST_CHAT_ID, FIRST_CHAT_ID + messages))
    url = f"{fake.base_url}{BOT_TOKEN}/sendMessage"
    busy, began = busy_cpu_seconds(), time.perf_counter()
    accepted = asyncio.run(_send_all(url, chat_ids, concurrency))
    elapsed, busy = time.perf_counter() - began, busy_cpu_seconds() - busy
    calls = [c for c in fake.calls("sendMessage") if c["status"] == 200]
    fake.reset()
    stamps = sorted(c["ts"] for c in calls)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return Ceiling(
        messages=messages,
        concurrency=concurrency,
        accepted=accepted,
        distinct=len({c["params"]["chat_id"] for c in calls}),
        at_fake_per_second=(len(stamps) - 1) / span if span > 0 else 0.0,
        client_per_second=messages / elapsed if elapsed > 0 else 0.0,
        machine_cpu_ms=1000 * busy / accepted if accepted else 0.0,
    )


def describe(result: Ceiling) -> str:
    return (
        f"ceiling (bare aiohttp, {result.concurrency} concurrent): {result.accepted} of "
        f"{result.messages} accepted ({result.distinct} distinct chats), "
        f"{result.at_fake_per_second:.0f}/s at the fake, {result.client_per_second:.0f}/s "
        f"at the client; machine CPU {result.machine_cpu_ms:.2f} ms per message"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    with FakeBotAPI() as fake:
        result = measure_ceiling(fake, args.messages, args.concurrency)
    print(f"{describe(result)} ({machine()})")
    print("\nsummary")
    once = "MET" if result.accepted == result.distinct == result.messages else "MISSED"
    print(
        f"budget ceiling exactly-once: measured {result.accepted} accepted, "
        f"{result.distinct} distinct, limit {result.messages}, {once}"
    )
    print(f"ratio ceiling msgs/s: {result.at_fake_per_second:.0f}/s")
    return 0 if once == "MET" else 1


if __name__ == "__main__":
    sys.exit(main())
