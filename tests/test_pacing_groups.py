"""Chat slots without a bot rate (`daemon/pacing.py` `ChatTakes`): the messages waiting take
their slots together in one statement, and the per-chat second and a 429's pause still hold,
within a replica and across replicas sharing PostgreSQL's `send_slots`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from daemon.pacing import (
    CHAT_INTERVAL,
    DatabaseSlots,
    Decision,
    MemorySlots,
    Pacer,
    SlotStore,
    permit_keys,
)


class Counted:
    """A store that remembers the size of each group it was asked to take."""

    def __init__(self, store: SlotStore) -> None:
        self.store = store
        self.groups: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def take_chats(self, chat_ids: list[int]) -> list[object]:
        self.groups.append(len(chat_ids))
        return self.store.take_chats(chat_ids)  # type: ignore[return-value]


@pytest.fixture(params=["memory", "postgresql"])
def slots(request: pytest.FixtureRequest) -> Iterator[SlotStore]:
    if request.param == "memory":
        yield MemorySlots()
        return
    engine: Engine = request.getfixturevalue("pg_engine")
    store = DatabaseSlots(engine)
    yield store
    store.close()


async def started_at(pacer: Pacer, chat_id: int, began: float) -> float:
    async with pacer.slot(chat_id) as allowed:
        assert allowed
        return time.monotonic() - began


def test_fifty_waiting_messages_take_their_slots_in_one_statement(slots: SlotStore) -> None:
    store = Counted(slots)
    pacer = Pacer(store, 0)  # type: ignore[arg-type]

    async def run() -> list[float]:
        began = time.monotonic()
        return await asyncio.gather(*(started_at(pacer, 700 + n, began) for n in range(50)))

    starts = asyncio.run(run())
    assert store.groups == [50]
    assert max(starts) < CHAT_INTERVAL / 2  # none waited for another chat


def test_a_chat_asked_for_twice_at_once_gets_its_second_a_second_later(
    slots: SlotStore,
) -> None:
    pacer = Pacer(slots, 0)

    async def run() -> list[float]:
        began = time.monotonic()
        return await asyncio.gather(*(started_at(pacer, chat, began) for chat in (801, 801, 802)))

    first, second, other = asyncio.run(run())
    assert first < CHAT_INTERVAL / 2
    assert other < CHAT_INTERVAL / 2
    assert second >= CHAT_INTERVAL - 0.05, (first, second)


def test_replicas_share_the_chat_second_and_a_429_pause(pg_engine: Engine) -> None:
    stores = [DatabaseSlots(pg_engine), DatabaseSlots(pg_engine)]
    one, two = (Pacer(store, 0) for store in stores)

    async def run() -> tuple[float, float, float]:
        began = time.monotonic()
        mine = await started_at(one, 901, began)
        theirs = await started_at(two, 901, began)  # the same chat, another replica
        await asyncio.to_thread(one.pause, 1.5)  # a 429 answered to replica one
        paused_at = time.monotonic()
        held = await started_at(two, 902, paused_at)  # replica two, a fresh chat
        return mine, theirs, held

    try:
        mine, theirs, held = asyncio.run(run())
    finally:
        for store in stores:
            store.close()
    assert mine < CHAT_INTERVAL / 2
    assert theirs >= CHAT_INTERVAL - 0.05, (mine, theirs)
    assert held >= 1.4, held


def test_slots_prepared_on_their_own_connection_survive_losing_it(pg_engine: Engine) -> None:
    """The slot statements are prepared per connection: when the connection is lost (the
    server restarted, or it was terminated), the next take prepares them on a new one, and the
    pool's connections never carry them."""
    store = DatabaseSlots(pg_engine)
    try:
        assert store.take(901, 0.0, permit_keys(20)).start is not None
        assert store.connection is not None
        with pg_engine.connect() as conn:
            own = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            assert prepared.scalar_one() == 0  # a pooled connection: none of them
            slot_pid = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE pid <> %(own)s "
                "AND query LIKE 'EXECUTE habitctl_take_slot%%'",
                {"own": own},
            ).scalar_one()
            conn.exec_driver_sql("SELECT pg_terminate_backend(%(pid)s)", {"pid": slot_pid})
        decision = store.take(902, 0.0, permit_keys(20))
        assert decision.start is not None
        assert decision.permit is not None
        assert store.take_chats([903]) == [Decision(start=0.0)]
    finally:
        store.close()
