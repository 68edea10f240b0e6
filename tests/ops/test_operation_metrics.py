"""`sessiongraph_graphql_operations_total` and `sessiongraph_subscriptions_open`, read from
/metrics on a real server: every operation is counted once, on every path, and every live
stream is in the gauge while it is open, however it ends."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from starlette.applications import Starlette

from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.ops import metrics
from graph.settings import Settings
from tests.support.graphql import GraphQLClient
from tests.support.server import running_server
from tests.support.sessions import append, new_session
from tests.support.sse import frames, stream_path
from tests.support.ws import LEGACY, TRANSPORT, Socket, socket

pytestmark = pytest.mark.timeout(90)

OPERATIONS = "sessiongraph_graphql_operations_total"
OPEN = "sessiongraph_subscriptions_open"
WATCH = "subscription Watch($s: ID!) { sessionEvents(sessionId: $s) { sequence } }"
COUNT = "query CountSessions { sessions { totalCount } }"
_SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def value(text: str, metric: str, **labels: str) -> float:
    """The sample with exactly these labels; 0 when there is none yet."""
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if (
            found
            and found[1] == metric
            and dict(re.findall(r'(\w+)="([^"]*)"', found[2] or "")) == labels
        ):
            return float(found[3])
    return 0.0


def counted(before: str, after: str, kind: str, name: str, outcome: str = "ok") -> float:
    labels = {"type": kind, "name": name, "outcome": outcome}
    return value(after, OPERATIONS, **labels) - value(before, OPERATIONS, **labels)


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


async def until(read: Callable[[], Awaitable[str]], check: Callable[[str], bool]) -> str:
    """The first scrape `check` accepts: the server updates the metrics as streams end."""
    async with asyncio.timeout(15):
        while True:
            text = await read()
            if check(text):
                return text
            await asyncio.sleep(0.05)


async def test_http_operations_are_counted_once_each(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    before = await scrape(http)
    for _ in range(3):  # Strawberry's path, then the planned read with the key folded in
        await gql.data(COUNT)
    get = await http.get("/graphql", params={"query": COUNT}, headers=gql.headers())
    assert get.status_code == 200 and "errors" not in get.json()
    await gql.data("mutation StartOne { createSession(input: {}) { id } }")
    await gql.data("{ __typename }")
    named = {"query": "query A { __typename } query B { __typename }", "operationName": "B"}
    assert (await http.post("/graphql", json=named, headers=gql.headers())).status_code == 200
    assert "errors" in await gql("query Broken { nope }")
    wrong = {"query": "{ __typename }", "operationName": "not-a-name"}
    assert (await http.post("/graphql", json=wrong, headers=gql.headers())).status_code == 200
    refused = await http.get(
        "/graphql",
        params={"query": "mutation Sneaky { createSession(input: {}) { id } }"},
        headers=gql.headers(),
    )
    assert refused.status_code == 405
    await gql.post(COUNT, key="sgk_unknown")  # 401: never reached the endpoint
    after = await scrape(http)
    assert counted(before, after, "query", "CountSessions") == 4
    assert counted(before, after, "mutation", "StartOne") == 1
    assert counted(before, after, "query", "anonymous") == 1
    assert counted(before, after, "query", "B") == 1
    assert counted(before, after, "query", "Broken", "error") == 1
    assert counted(before, after, "unknown", "invalid", "error") == 1
    assert counted(before, after, "mutation", "Sneaky", "error") == 1
    assert counted(before, after, "query", "CountSessions", "error") == 0


async def test_batched_operations_count_each(database_url: str, db: Database, api_key: str) -> None:
    settings = Settings(database_url=database_url, auto_migrate=False, graphql_max_operations=3)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        running_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        before = await scrape(http)
        assert (await http.post("/graphql", json={"query": COUNT}, headers=headers)).is_success
        batch = [{"query": COUNT}, {"query": COUNT}, {"query": "query Other { __typename }"}]
        response = await http.post("/graphql", json=batch, headers=headers)
        assert response.status_code == 200 and len(response.json()) == 3
        after = await scrape(http)
    assert counted(before, after, "query", "CountSessions") == 3  # the batch's two are planned
    assert counted(before, after, "query", "Other") == 1


async def test_operation_names_are_bounded(
    http: httpx.AsyncClient, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = {f"Seen{i}" for i in range(metrics.MAX_OPERATION_NAMES)}
    monkeypatch.setattr(metrics, "_operation_names", full)
    before = await scrape(http)
    await gql.data("query Seen7 { __typename }")
    await gql.data("query OneTooMany { __typename }")
    after = await scrape(http)
    assert counted(before, after, "query", "Seen7") == 1
    assert counted(before, after, "query", "other") == 1
    assert counted(before, after, "query", "OneTooMany") == 0
    long = "N" * 65
    await gql.data(f"query {long} {{ __typename }}")
    assert counted(after, await scrape(http), "query", "invalid") == 1


async def _open(ws: Socket, protocol: str, op_id: str, query: str, variables: Any) -> None:
    kind = "subscribe" if protocol == TRANSPORT else "start"
    payload = {"query": query, "variables": variables}
    await ws.send({"id": op_id, "type": kind, "payload": payload})


async def _next_for(ws: Socket, op_id: str) -> dict[str, Any]:
    while True:
        message = await ws.recv()
        if message.get("id") == op_id:
            return message


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
@pytest.mark.parametrize("ending", ["client stops it", "client leaves"])
async def test_a_subscription_is_open_until_it_ends(
    base_url: str,
    http: httpx.AsyncClient,
    db: Database,
    principal: Principal,
    api_key: str,
    protocol: str,
    ending: str,
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 1)
    before = await scrape(http)
    base = value(before, OPEN)
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": api_key}})
        assert (await ws.recv())["type"] == "connection_ack"
        await _open(ws, protocol, "w", WATCH, {"s": session})
        assert (await _next_for(ws, "w"))["payload"]["data"]["sessionEvents"]["sequence"] == 1
        await _open(ws, protocol, "p", "query Ping { __typename }", None)
        assert (await _next_for(ws, "p"))["payload"]["data"] == {"__typename": "Query"}
        during = await until(lambda: scrape(http), lambda t: value(t, OPEN) == base + 1)
        assert counted(before, during, "subscription", "Watch") == 0  # counted as it ends
        if ending == "client stops it":
            await ws.send({"id": "w", "type": "complete" if protocol == TRANSPORT else "stop"})
            await until(lambda: scrape(http), lambda t: value(t, OPEN) == base)
    after = await until(lambda: scrape(http), lambda t: value(t, OPEN) == base)
    after = await until(
        lambda: scrape(http), lambda t: counted(before, t, "subscription", "Watch") == 1
    )
    assert counted(before, after, "query", "Ping") == 1


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_subscription_that_fails_is_an_error_and_closes(
    base_url: str, http: httpx.AsyncClient, api_key: str, protocol: str
) -> None:
    before = await scrape(http)
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": api_key}})
        assert (await ws.recv())["type"] == "connection_ack"
        await _open(ws, protocol, "w", WATCH, {"s": "sess_missing"})
        failed = await _next_for(ws, "w")
        assert failed["type"] == "error", failed
        after = await until(
            lambda: scrape(http),
            lambda t: counted(before, t, "subscription", "Watch", "error") == 1,
        )
    assert value(after, OPEN) == value(before, OPEN)


async def test_an_event_stream_is_open_until_the_client_leaves(
    base_url: str, http: httpx.AsyncClient, db: Database, principal: Principal, api_key: str
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 1)
    base = value(await scrape(http), OPEN)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        client.stream("GET", stream_path(session), headers=headers) as response,
    ):
        async for frame in frames(response):
            if frame.event == "event":
                break
        await until(lambda: scrape(http), lambda t: value(t, OPEN) == base + 1)
    await until(lambda: scrape(http), lambda t: value(t, OPEN) == base)


async def test_shutdown_ends_every_open_stream(
    app: Starlette, db: Database, principal: Principal, api_key: str
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 1)

    async def registry() -> str:
        return generate_latest().decode()

    async def read_sse(base_url: str, started: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30) as client,
            client.stream("GET", stream_path(session), headers=headers) as response,
        ):
            async for _ in frames(response):
                started.set()

    base = value(await registry(), OPEN)
    server = running_server(app)
    base_url = await server.__aenter__()
    started = asyncio.Event()
    sse = asyncio.create_task(read_sse(base_url, started))
    try:
        await started.wait()
        sockets = [socket(base_url, subprotocols=[p]) for p in (TRANSPORT, LEGACY)]
        for protocol, opened in zip((TRANSPORT, LEGACY), sockets, strict=True):
            ws = await opened.__aenter__()
            await ws.send({"type": "connection_init", "payload": {"Authorization": api_key}})
            assert (await ws.recv())["type"] == "connection_ack"
            await _open(ws, protocol, "w", WATCH, {"s": session})
            await _next_for(ws, "w")
        await until(registry, lambda t: value(t, OPEN) == base + 3)
    finally:
        await server.__aexit__(None, None, None)
    await sse
    for opened in sockets:
        await opened.__aexit__(None, None, None)
    await until(registry, lambda t: value(t, OPEN) == base)
