"""The hint bus: in-process delivery, and each cross-process bus (PostgreSQL LISTEN/NOTIFY,
Redis pub/sub, NATS) crossing processes, surviving a killed connection, and polling the
log while its broker is unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import pytest

from db import clock
from db.live.bus import BrokerBus, Bus, Hint, NatsBus, PostgresBus, RedisBus, bus_for, bus_kind
from db.store.engine import Database
from tests.support.listeners import terminate_listeners
from tests.support.tcp_proxy import tcp_proxy

pytestmark = pytest.mark.timeout(60)

REDIS_URL = os.environ.get("SESSIONGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("SESSIONGRAPH_TEST_NATS_URL", "nats://127.0.0.1:4222")
BROKERS = ("postgres", "redis", "nats")


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
    assert seen == [hint] and len(bus._listeners) == 0 and bus.state == "ok"


def test_the_database_picks_its_bus(database_url: str) -> None:
    db = Database(database_url)
    expected = Bus if database_url.startswith("sqlite") else PostgresBus
    assert type(db.bus) is expected
    assert type(bus_for(db.url)) is expected
    assert type(bus_for(db.url, bus_url="memory")) is Bus
    assert type(bus_for(db.url, bus_url=REDIS_URL)) is RedisBus
    assert type(bus_for(db.url, bus_url=NATS_URL)) is NatsBus
    if database_url.startswith("sqlite"):
        with pytest.raises(ValueError, match="needs a PostgreSQL database"):
            bus_for(db.url, bus_url="postgres")
    else:
        assert type(bus_for(db.url, bus_url="postgres")) is PostgresBus


def test_bus_urls_name_their_kind() -> None:
    assert [bus_kind(u) for u in ("memory", "postgres", "redis://h:1/2", "nats://h:4222")] == [
        "memory",
        "postgres",
        "redis",
        "nats",
    ]
    with pytest.raises(ValueError, match="expected memory, postgres"):
        bus_kind("kafka://h:9092")


async def _eventually(condition: Callable[[], bool], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polls state another component changes
            await asyncio.sleep(0.01)


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, postgres_url: str) -> str:
    """The broker's URL: for `postgres`, the direct PostgreSQL database's."""
    kind: str = request.param
    if kind == "postgres":
        return Database(postgres_url).url.set(drivername="postgresql").render_as_string(False)
    return REDIS_URL if kind == "redis" else NATS_URL


def _bus(url: str, **options: float) -> BrokerBus:
    if url.startswith("postgresql"):
        return PostgresBus(url, **options)
    return RedisBus(url, **options) if url.startswith("redis") else NatsBus(url, **options)


@pytest.fixture
async def buses(broker: str) -> AsyncIterator[tuple[BrokerBus, BrokerBus]]:
    a = _bus(broker, reconnect_delay=0.05, poll_interval=0.1)
    b = _bus(broker, reconnect_delay=0.05, poll_interval=0.1)
    yield a, b
    await a.stop()
    await b.stop()


def _recorder(
    bus: BrokerBus, resyncs: list[datetime] | None = None
) -> tuple[list[Hint], list[datetime]]:
    heard: list[Hint] = []
    sinces: list[datetime] = [] if resyncs is None else resyncs
    bus.add_listener(heard.append, sinces.append)
    return heard, sinces


async def test_broker_bus_crosses_processes_and_recovers_from_a_killed_connection(
    broker: str, buses: tuple[BrokerBus, BrokerBus]
) -> None:
    """Each bus's connection is dropped under it (PostgreSQL: `pg_terminate_backend`;
    Redis: `CLIENT KILL TYPE pubsub`; NATS: a proxy in between drops it)."""
    a, b = buses
    async with tcp_proxy(broker) as proxy:
        if isinstance(a, NatsBus):  # both go through the proxy, which can drop them
            a.url = b.url = proxy.url_for(broker)
        heard_a, sinces_a = _recorder(a)
        heard_b, sinces_b = _recorder(b)
        await a.start()
        await b.start()
        assert a.connected and b.connected and a.state == b.state == "ok"
        first = Hint("events", "sess_0123456789abcdef", "org_a", 1)
        a.publish(first)
        await _eventually(lambda: heard_b == [first])
        assert heard_a == [first]  # at once locally, and its own copy is not heard twice
        await asyncio.sleep(0.1)  # a's send of `first` is confirmed (it proves the link)
        killed_at = clock.now()
        assert await _kill_connections(broker, a, proxy) >= 2
        await _eventually(lambda: a.reconnects == b.reconnects == 1 and a.connected and b.connected)
        await _eventually(lambda: bool(sinces_a) and bool(sinces_b))
        # Each was told from when hints may have been missed: no later than the kill.
        assert all(since <= killed_at for since in sinces_a + sinces_b)
        second = Hint("deleted", "sess_0123456789abcdef", "org_a")
        b.publish(second)
        await _eventually(lambda: heard_a == [first, second])
    await a.stop()
    assert not a.connected


async def _kill_connections(broker: str, bus: BrokerBus, proxy: object) -> int:
    from tests.support.tcp_proxy import TcpProxy

    if isinstance(bus, PostgresBus):
        return await terminate_listeners(broker)
    if isinstance(bus, RedisBus):
        return await kill_redis_subscribers()
    assert isinstance(proxy, TcpProxy)
    return proxy.drop()


async def kill_redis_subscribers(url: str = REDIS_URL) -> int:
    """`CLIENT KILL TYPE pubsub` from a separate client: how many connections it closed."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        killed: int = await client.client_kill_filter(_type="pubsub")
        return killed
    finally:
        await client.aclose()


async def test_an_unreachable_broker_degrades_to_polling_and_recovers(
    broker: str, buses: tuple[BrokerBus, BrokerBus], caplog: pytest.LogCaptureFixture
) -> None:
    """Down at start, back, down mid-stream, back: one warning per outage, one info line
    per recovery, listeners told to read the log every poll meanwhile."""
    a, b = buses
    caplog.set_level(logging.INFO, logger="sessiongraph.bus")
    async with tcp_proxy(broker) as proxy:
        url = proxy.url_for(broker)
        a.url = url
        heard, sinces = _recorder(a)
        heard_b, _ = _recorder(b)
        proxy.cut()
        await a.start()  # gives up waiting after a few seconds: the process still starts
        assert a.state == "degraded (polling)" and not a.connected
        await _eventually(lambda: len(sinces) >= 3)  # a poll every 0.1 s
        proxy.restore()
        await _eventually(lambda: a.connected and a.state == "ok")
        await b.start()
        polls = a.polls
        await asyncio.sleep(0.3)
        assert a.polls == polls  # no polling once the broker is back
        hint = Hint("updated", "sess_0123456789abcdef", "org_a")
        b.publish(hint)
        await _eventually(lambda: heard == [hint])
        assert proxy.cut() >= 1  # mid-stream
        await _eventually(lambda: a.state == "degraded (polling)" and not a.connected)
        a.publish(hint)  # while cut: local listeners still hear it at once...
        assert heard == [hint, hint]
        proxy.restore()
        await _eventually(lambda: a.connected and a.state == "ok")
        await _eventually(lambda: heard_b == [hint, hint])  # ...and it is sent once back
    records = [r for r in caplog.records if r.name == "sessiongraph.bus"]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    infos = [r for r in records if r.levelno == logging.INFO and "is back" in r.getMessage()]
    assert len(warnings) == 2 and len(infos) == 2
    assert all("reading the database every 0.1s" in r.getMessage() for r in warnings)


class _SwallowsOneCancel(BrokerBus):
    """A link whose connect swallows a cancellation, as Python 3.11's `asyncio.timeout` can
    when its deadline and a cancel land together, then fails."""

    kind = "stubborn"

    async def _connect(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        raise OSError("gave up")

    async def _disconnect(self) -> None:
        pass

    async def _send(self, payloads: list[str]) -> None:
        raise AssertionError("never connected")

    async def _probe(self) -> None:
        raise AssertionError("never connected")

    def _link_alive(self) -> bool:
        return False


@pytest.mark.timeout(30)
async def test_stop_ends_a_bus_whose_link_swallowed_the_cancel() -> None:
    bus = _SwallowsOneCancel("stubborn://", reconnect_delay=3600)
    await bus.start()  # never ready: returns after its bounded wait
    stopping = asyncio.create_task(bus.stop())
    done, _ = await asyncio.wait([stopping], timeout=10)  # waits without cancelling `stop`
    assert stopping in done, "stop() still waits for the bus task"
    assert bus.state == "ok" and not bus.connected
