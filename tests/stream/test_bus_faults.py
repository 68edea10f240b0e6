"""A server cut off from its bus's broker: it reads the log every poll interval instead,
says `degraded (polling)` in /readyz (still 200), loses and repeats nothing, and goes back
to live hints when the broker is reachable again. The same on each broker.

The server's bus goes through a TCP proxy the test cuts; the writes come from another
`Database` (another process, as far as the bus is concerned) talking to the broker
directly, so while the proxy is cut no hint reaches the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from db.records import Principal
from db.sessions import update_session
from db.store.engine import Database
from tests.support.sessions import append, new_session
from tests.support.sse import frames, stream_path
from tests.support.tcp_proxy import TcpProxy, tcp_proxy
from tests.support.ws import EVENTS, socket

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

REDIS_URL = os.environ.get("SESSIONGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("SESSIONGRAPH_TEST_NATS_URL", "nats://127.0.0.1:4222")
POLL_SECONDS = 0.2
UPDATES = (
    "subscription { sessionUpdates { kind sessionId session { status prd } } }"  # organisation
)


@pytest.fixture(params=["postgres", "redis", "nats"])
def broker(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return {"postgres": "postgres", "redis": REDIS_URL, "nats": NATS_URL}[kind]


@pytest.fixture
async def proxy(broker: str, database_url: str) -> AsyncIterator[TcpProxy]:
    async with tcp_proxy(database_url if broker == "postgres" else broker) as proxy:
        yield proxy


@pytest.fixture
async def db(database_url: str, broker: str, proxy: TcpProxy) -> AsyncIterator[Database]:
    """The server's database; its bus reaches the broker only through the proxy."""
    if broker == "postgres":
        database = Database(
            database_url, listen_url=proxy.url_for(database_url), bus_poll_seconds=POLL_SECONDS
        )
    else:
        database = Database(
            database_url, bus_url=proxy.url_for(broker), bus_poll_seconds=POLL_SECONDS
        )
    yield database
    await database.dispose()


@pytest.fixture
async def writer(database_url: str, broker: str) -> AsyncIterator[Database]:
    other = Database(database_url, bus_url=broker)
    await other.bus.start()
    try:
        yield other
    finally:
        await other.bus.stop()
        await other.dispose()


async def _bus_reads(http: httpx.AsyncClient, expected: str) -> None:
    """Wait (bounded) until /readyz reports the bus as `expected`; it stays 200 throughout."""
    async with asyncio.timeout(15):
        while True:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            if ready.json()["bus"] == expected:
                return
            await asyncio.sleep(0.05)


class SseReader:
    """The sequences of one SSE stream, taken a few at a time."""

    def __init__(self, frames_: AsyncIterator[Any]) -> None:
        self.frames = frames_

    async def take(self, count: int) -> list[int]:
        seen: list[int] = []
        async with asyncio.timeout(15):
            async for frame in self.frames:
                if frame.event == "event":
                    seen.append(frame.data["sequence"])
                    if len(seen) == count:
                        break
        return seen


async def _update(ws: Any) -> tuple[str, str, int]:
    message = await ws.recv(within=15)
    assert message["type"] == "next", message
    update = message["payload"]["data"]["sessionUpdates"]
    return update["kind"], update["session"]["status"], update["session"]["prd"]["v"]


async def test_cut_broker_degrades_to_polling_loses_and_repeats_nothing_then_recovers(
    base_url: str,
    http: httpx.AsyncClient,
    api_key: str,
    db: Database,
    writer: Database,
    principal: Principal,
    proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sessiongraph.bus")
    session = await new_session(writer, principal, prd={"v": 0})
    headers = {"Authorization": f"Bearer {api_key}"}
    await _bus_reads(http, "ok")
    async with (
        socket(base_url) as events,
        socket(base_url) as updates,
        http.stream("GET", stream_path(session), headers=headers) as response,
    ):
        sse = SseReader(frames(response))
        await events.init(api_key)
        await events.subscribe("e", EVENTS, {"s": session})
        await updates.init(api_key)
        await updates.subscribe("u", UPDATES)
        await asyncio.sleep(0.3)

        # Live, through the broker.
        await append(writer, principal, session, 100)
        await update_session(writer, principal, session, {"prd": {"v": 1}})
        assert (await events.events("e", 100))[0] == list(range(1, 101))
        assert await sse.take(100) == list(range(1, 101))
        assert await _update(updates) == ("UPDATED", "PENDING", 1)

        # Cut: nothing reaches the server through the broker; polling delivers it all.
        assert proxy.cut() >= 1
        await _bus_reads(http, "degraded (polling)")
        await append(writer, principal, session, 100)
        await update_session(writer, principal, session, {"prd": {"v": 2}})
        assert (await events.events("e", 100))[0] == list(range(101, 201))
        assert await sse.take(100) == list(range(101, 201))
        assert await _update(updates) == ("UPDATED", "PENDING", 2)
        await asyncio.sleep(5 * POLL_SECONDS)  # polls keep seeing v=2: it is not sent again

        # Back: live hints again, a catch-up that finds nothing new, then the rest.
        proxy.restore()
        await _bus_reads(http, "ok")
        with pytest.raises(TimeoutError):
            await updates.recv(within=1.0)
        await append(writer, principal, session, 100)
        await update_session(writer, principal, session, {"prd": {"v": 3}})
        # (One at a time: an update carries the session as it is when delivered.)
        assert await _update(updates) == ("UPDATED", "PENDING", 3)
        await update_session(writer, principal, session, {"status": "completed"})
        assert await _update(updates) == ("UPDATED", "COMPLETED", 3)
        rest, end = await events.events("e")
        assert rest == list(range(201, 301)) and end == {"id": "e", "type": "complete"}
        assert await sse.take(100) == list(range(201, 301))
    bus_log = [r for r in caplog.records if r.name == "sessiongraph.bus"]
    warnings = [r.getMessage() for r in bus_log if r.levelno == logging.WARNING]
    back = [r.getMessage() for r in bus_log if r.levelno == logging.INFO and "is back" in r.msg]
    assert len(warnings) == 1 and "reading the database every 0.2s" in warnings[0]
    assert len(back) == 1


async def test_a_broker_down_at_start_serves_by_polling_until_it_is_reachable(
    database_url: str,
    db: Database,
    writer: Database,
    principal: Principal,
    api_key: str,
    proxy: TcpProxy,
) -> None:
    from graph.app import create_app
    from graph.settings import Settings
    from tests.support.server import running_server

    proxy.cut()
    app = create_app(Settings(database_url=database_url, auto_migrate=False), database=db)
    session = await new_session(writer, principal)
    async with (
        running_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        socket(base_url) as ws,
    ):
        await _bus_reads(http, "degraded (polling)")
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session})
        await append(writer, principal, session, 10)
        assert (await ws.events("e", 10))[0] == list(range(1, 11))
        proxy.restore()
        await _bus_reads(http, "ok")
        await append(writer, principal, session, 10)
        assert (await ws.events("e", 10))[0] == list(range(11, 21))
