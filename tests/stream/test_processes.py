"""Several server processes on one PostgreSQL database form one service, whichever bus
carries their hints: LISTEN/NOTIFY, Redis or NATS."""

from __future__ import annotations

import asyncio
import os
import socket as sockets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import httpx
import pytest

from db.records import Principal
from db.sessions import delete_session, update_session
from db.store.engine import Database
from tests.support.listeners import terminate_listeners
from tests.support.sessions import append, new_session
from tests.support.tcp_proxy import tcp_proxy
from tests.support.ws import EVENTS, socket

# Plain PostgreSQL: these tests are about the bus between processes, not the pooler.
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

REDIS_URL = os.environ.get("SESSIONGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("SESSIONGRAPH_TEST_NATS_URL", "nats://127.0.0.1:4222")

APPEND = "mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO}) { sequence } }"


def _free_port() -> int:
    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _server_process(database_url: str, bus_url: str | None = None) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "SESSIONGRAPH_DATABASE_URL": database_url,
        "SESSIONGRAPH_AUTO_MIGRATE": "false",
        "SESSIONGRAPH_LOG_LEVEL": "warning",
    }
    if bus_url is not None:
        env["SESSIONGRAPH_BUS_URL"] = bus_url
    process = subprocess.Popen(
        [sys.executable, "-m", "graph", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()


async def _ready(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http, asyncio.timeout(30):
        while True:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


@asynccontextmanager
async def two_servers(
    database_url: str, bus_url: str | None = None
) -> AsyncIterator[tuple[str, str]]:
    with (
        _server_process(database_url, bus_url) as first,
        _server_process(database_url, bus_url) as second,
    ):
        await asyncio.gather(_ready(first), _ready(second))
        await asyncio.sleep(0.3)  # both bus connections up
        yield first, second


@pytest.fixture
def postgres_url(database_url: str) -> str:
    return database_url


@dataclass
class Bus:
    """The servers' `SESSIONGRAPH_BUS_URL` (None: LISTEN/NOTIFY) and how to kill their
    connections to it: `pg_terminate_backend`, Redis `CLIENT KILL TYPE pubsub`, or a proxy
    in front of NATS that drops them."""

    url: str | None
    kill_connections: Callable[[], Awaitable[int]]


async def _until_killed(kill: Callable[[], Awaitable[int]]) -> int:
    """Kill, waiting (bounded) for connections that are back after an earlier kill."""
    for _ in range(100):
        killed = await kill()
        if killed:
            return killed
        await asyncio.sleep(0.05)
    return 0


async def _kill_redis_subscribers() -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        killed: int = await client.client_kill_filter(_type="pubsub")
        return killed
    finally:
        await client.aclose()


@pytest.fixture(params=["postgres", "redis", "nats"])
async def bus(request: pytest.FixtureRequest, postgres_url: str) -> AsyncIterator[Bus]:
    kind: str = request.param
    if kind == "postgres":
        yield Bus(None, lambda: _until_killed(lambda: terminate_listeners(postgres_url)))
    elif kind == "redis":
        yield Bus(REDIS_URL, lambda: _until_killed(_kill_redis_subscribers))
    else:
        async with tcp_proxy(NATS_URL) as proxy:

            async def drop() -> int:
                return proxy.drop()

            yield Bus(proxy.url_for(NATS_URL), lambda: _until_killed(drop))


@pytest.fixture
async def db(postgres_url: str, bus: Bus) -> AsyncIterator[Database]:
    """This test process, on the servers' bus (its bus starts only where a test says)."""
    database = Database(postgres_url, bus_url=bus.url)
    yield database
    await database.dispose()


async def test_append_through_one_process_reaches_the_other(
    postgres_url: str, bus: Bus, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    async with two_servers(postgres_url, bus.url) as (first, second), socket(first) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session})
        async with httpx.AsyncClient(base_url=second) as http:
            answer = await http.post(
                "/graphql",
                json={"query": APPEND, "variables": {"s": session}},
                headers={"Authorization": f"Bearer {api_key}"},
            )
            assert answer.json() == {"data": {"appendEvent": {"sequence": 1}}}
        assert (await ws.events("e", 1))[0] == [1]
        await db.bus.start()  # this test process is a third writer on the same service
        try:
            await append(db, principal, session, 2)
            assert (await ws.events("e", 2))[0] == [2, 3]
        finally:
            await db.bus.stop()


async def test_killing_the_bus_connections_loses_nothing(
    request: pytest.FixtureRequest,
    postgres_url: str,
    bus: Bus,
    api_key: str,
    db: Database,
    principal: Principal,
) -> None:
    total = 1000 if request.config.getoption("--long") else 300
    session = await new_session(db, principal)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with two_servers(postgres_url, bus.url) as (first, second), socket(first) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session})

        async def write() -> None:
            async with httpx.AsyncClient(base_url=second, timeout=30) as http:
                for n in range(total):
                    await http.post(
                        "/graphql",
                        json={"query": APPEND, "variables": {"s": session}},
                        headers=headers,
                    )
                    if n % (total // 4) == total // 8:
                        assert await bus.kill_connections() >= 1

        writer = asyncio.create_task(write())
        seen, _ = await ws.events("e", total)
        await writer
    assert seen == list(range(1, total + 1))


UPDATES = (
    "subscription($s: ID) { sessionUpdates(sessionId: $s) { kind sessionId session { prd } } }"
)
CREATE = "mutation($v: Int!) { createSession(input: {prd: {v: $v}}) { id } }"
UPDATE = "mutation($s: ID!, $v: Int!) { updateSession(id: $s, input: {prd: {v: $v}}) { id } }"
DELETE = "mutation($s: ID!) { deleteSession(id: $s) }"


async def test_session_updates_lose_nothing_across_bus_kills(
    postgres_url: str, bus: Bus, api_key: str, db: Database, principal: Principal
) -> None:
    """The last update each subscriber holds for each session is the session's final state.

    Phase 1 changes sessions through the other process while the bus connections are
    killed again and again. Phase 2 changes them from this test process, whose hints never
    reach the servers (its bus is not started), then kills the connections once: only the
    catch-up after the reconnect can deliver those.
    """
    watched = [await new_session(db, principal, prd={"v": 0}) for _ in range(3)]
    headers = {"Authorization": f"Bearer {api_key}"}
    final: dict[str, object] = {}
    async with two_servers(postgres_url, bus.url) as (first, second), socket(first) as ws:
        await ws.init(api_key)
        await ws.subscribe("all", UPDATES)
        await ws.subscribe("one", UPDATES, {"s": watched[0]})
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=second, timeout=30) as http:

            async def call(query: str, **variables: object) -> dict:  # type: ignore[type-arg]
                answer = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body: dict = answer.json()["data"]  # type: ignore[type-arg]
                return body

            for round_ in range(1, 13):
                for session in watched:
                    await call(UPDATE, s=session, v=round_)
                    final[session] = round_
                made = (await call(CREATE, v=round_))["createSession"]["id"]
                final[made] = round_
                if round_ % 2:
                    await call(DELETE, s=made)
                    final[made] = "DELETED"
                if round_ % 3 == 0:
                    assert await bus.kill_connections() >= 1
        for session in watched[:2]:
            await update_session(db, principal, session, {"prd": {"v": 100}})
            final[session] = 100
        await delete_session(db, principal, watched[2])
        final[watched[2]] = "DELETED"
        late = await new_session(db, principal, prd={"v": 100})
        final[late] = 100
        assert await bus.kill_connections() >= 1

        last: dict[str, dict[str, object]] = {"all": {}, "one": {}}
        async with asyncio.timeout(30):
            while last["all"] != final or last["one"].get(watched[0]) != 100:
                message = await ws.recv(within=30)
                if message["type"] != "next":
                    continue
                update = message["payload"]["data"]["sessionUpdates"]
                state = "DELETED" if update["kind"] == "DELETED" else update["session"]["prd"]["v"]
                last[message["id"]][update["sessionId"]] = state
    assert last["all"] == final
