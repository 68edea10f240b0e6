"""The hint bus: in-process delivery, and LISTEN/NOTIFY that survives a killed connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest

from db import clock
from db.bus import Bus, Hint, PostgresBus, bus_for
from db.engine import Database
from tests.support.listeners import terminate_listeners

pytestmark = pytest.mark.timeout(60)


def test_hints_round_trip_and_malformed_ones_are_refused() -> None:
    hint = Hint("events", "sess_0123456789abcdef", "org_a", 7)
    assert Hint.decode(hint.encode("p1")) == (hint, "p1")
    for bad in ("", "{}", "[1]", '{"k":"nope","s":"x","o":null,"n":0,"p":"p"}', '{"k":"events"}'):
        assert Hint.decode(bad) is None


def test_in_memory_bus_delivers_at_once_until_removed() -> None:
    bus = Bus()
    seen: list[Hint] = []
    remove = bus.add_listener(seen.append)
    hint = Hint("created", "sess_0123456789abcdef", "org_a")
    bus.publish(hint)
    remove()
    bus.publish(hint)
    assert seen == [hint] and bus.listener_count == 0


def test_the_database_picks_its_bus(database_url: str) -> None:
    db = Database(database_url)
    expected = Bus if database_url.startswith("sqlite") else PostgresBus
    assert type(db.bus) is expected
    assert type(bus_for(db.url)) is expected


async def _eventually(condition, within: float = 10) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polls state another component changes
            await asyncio.sleep(0.01)


async def test_postgres_bus_crosses_processes_and_recovers(database_url: str, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    dsn = Database(database_url).url.set(drivername="postgresql").render_as_string(False)
    a, b = PostgresBus(dsn, reconnect_delay=0.05), PostgresBus(dsn, reconnect_delay=0.05)
    heard_a: list[Hint] = []
    heard_b: list[Hint] = []
    resyncs: list[str] = []
    sinces: list[datetime] = []

    def resynced(name: str) -> Callable[[datetime], None]:
        def on_resync(since: datetime) -> None:
            resyncs.append(name)
            sinces.append(since)

        return on_resync

    a.add_listener(heard_a.append, resynced("a"))
    b.add_listener(heard_b.append, resynced("b"))
    await a.start()
    await b.start()
    try:
        first = Hint("events", "sess_0123456789abcdef", "org_a", 1)
        a.publish(first)
        await _eventually(lambda: heard_b == [first])
        assert heard_a == [first]  # at once locally, and its own NOTIFY is not heard twice
        killed_at = clock.now()
        assert await terminate_listeners(dsn) == 2
        await _eventually(lambda: sorted(resyncs) == ["a", "b"] and a.connected and b.connected)
        # Each was told from when hints may have been missed: no later than the kill.
        assert all(since <= killed_at for since in sinces)
        assert a.reconnects == b.reconnects == 1
        second = Hint("deleted", "sess_0123456789abcdef", "org_a")
        b.publish(second)
        await _eventually(lambda: heard_a == [first, second])
    finally:
        await a.stop()
        await b.stop()
    assert not a.connected
