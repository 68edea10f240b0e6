"""Lossless delivery: many subscribers, concurrent writers, disconnects and resumes.

The live tests run on each bus: in-memory (SQLite, one process), LISTEN/NOTIFY, Redis and
NATS (PostgreSQL). On a cross-process bus the test writes through a second `Database`,
as another server process would, so hints reach the server only through the broker.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from db.live.feeds import feeds_of
from db.records import Principal
from db.sessions import update_session
from db.store.engine import Database
from tests.support.pgbouncer import listen_url_for
from tests.support.sessions import append, new_session
from tests.support.sse import frames, stream_path
from tests.support.ws import EVENTS, socket

pytestmark = pytest.mark.timeout(120)

REDIS_URL = os.environ.get("SESSIONGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("SESSIONGRAPH_TEST_NATS_URL", "nats://127.0.0.1:4222")

# (database, bus): the bus is the database's default (memory on SQLite, LISTEN/NOTIFY on
# PostgreSQL) unless a broker URL is given.
on_every_bus = pytest.mark.parametrize(
    ("database_url", "bus_url"),
    [
        pytest.param("sqlite", None, id="sqlite-memory"),
        pytest.param("postgresql", None, id="postgresql-listen"),
        pytest.param("pgbouncer", None, id="pgbouncer-listen"),
        pytest.param("postgresql", REDIS_URL, id="postgresql-redis"),
        pytest.param("postgresql", NATS_URL, id="postgresql-nats"),
    ],
    indirect=["database_url"],
)


@pytest.fixture
def bus_url() -> str | None:
    return None


@pytest.fixture
async def db(database_url: str, bus_url: str | None) -> AsyncIterator[Database]:
    database = Database(database_url, listen_url=listen_url_for(database_url), bus_url=bus_url)
    yield database
    await database.dispose()


@pytest.fixture
async def writer(db: Database, database_url: str, bus_url: str | None) -> AsyncIterator[Database]:
    """Where the test writes: `db` itself on the in-memory bus, else another process's."""
    if db.is_sqlite and bus_url is None:
        yield db
        return
    other = Database(database_url, listen_url=listen_url_for(database_url), bus_url=bus_url)
    await other.bus.start()
    try:
        yield other
    finally:
        await other.bus.stop()
        await other.dispose()


def sizes(request: pytest.FixtureRequest) -> tuple[int, int, int]:
    """(subscribers, writers, appends per writer): the issue's figures, larger with --long."""
    return (40, 10, 300) if request.config.getoption("--long") else (20, 10, 100)


async def _writers(
    db: Database, principal: Principal, session: str, writers: int, each: int
) -> None:
    await asyncio.gather(*(append(db, principal, session, each) for _ in range(writers)))


async def _subscriber(base_url: str, key: str, session: str, total: int) -> list[int]:
    async with socket(base_url) as ws:
        await ws.init(key)
        await ws.subscribe("e", EVENTS, {"s": session})
        seen, _ = await ws.events("e", total)
        return seen


@on_every_bus
async def test_every_subscriber_gets_every_event_once_in_order(
    request: pytest.FixtureRequest,
    base_url: str,
    api_key: str,
    db: Database,
    writer: Database,
    principal: Principal,
) -> None:
    subscribers, writers, each = sizes(request)
    total = writers * each
    session = await new_session(writer, principal)
    reads_before = feeds_of(db).reads
    listeners = [
        asyncio.create_task(_subscriber(base_url, api_key, session, total))
        for _ in range(subscribers)
    ]
    await asyncio.sleep(0.2)  # most subscribe first; late ones replay, by the same path
    await _writers(writer, principal, session, writers, each)
    results = await asyncio.gather(*listeners)
    for seen in results:
        assert seen == list(range(1, total + 1))
    # Shared fan-out: at most one read per hint, not one per subscriber and hint.
    assert feeds_of(db).reads - reads_before <= total + subscribers


@on_every_bus
async def test_resume_after_sequence_while_writes_continue(
    base_url: str, api_key: str, writer: Database, principal: Principal
) -> None:
    db = writer
    session = await new_session(db, principal)
    writing = asyncio.create_task(_paced_writes(db, principal, session, 1000))
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session})
        first, _ = await ws.events("e", 400)
    assert first == list(range(1, 401))
    assert not writing.done()  # the disconnect happened mid-stream
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session, "a": 400})
        rest, _ = await ws.events("e", 600)
        await writing
        await update_session(db, principal, session, {"status": "completed"})
        tail, end = await ws.events("e")
    assert rest == list(range(401, 1001)) and tail == []
    assert end == {"id": "e", "type": "complete"}


@on_every_bus
async def test_sse_resumes_from_last_event_id(
    http: httpx.AsyncClient, api_key: str, writer: Database, principal: Principal
) -> None:
    db = writer
    session = await new_session(db, principal)
    writing = asyncio.create_task(_paced_writes(db, principal, session, 1000))
    headers = {"Authorization": f"Bearer {api_key}"}
    first: list[int] = []
    async with http.stream("GET", stream_path(session), headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for frame in frames(response):
            if frame.event == "event":
                assert frame.id == str(frame.data["sequence"])
                first.append(frame.data["sequence"])
                if len(first) == 400:
                    break
    assert first == list(range(1, 401)) and not writing.done()
    rest: list[int] = []
    resume = {**headers, "Last-Event-ID": "400"}
    async with http.stream("GET", stream_path(session), headers=resume) as response:
        async for frame in frames(response):
            if frame.event == "event":
                rest.append(frame.data["sequence"])
                if len(rest) == 600:
                    await writing
                    await update_session(db, principal, session, {"status": "failed"})
            elif frame.event == "end":
                assert frame.data == {"lastSequence": 1000}
                break
    assert rest == list(range(401, 1001))
    done = await http.get(stream_path(session) + "?after=1000", headers=headers)
    assert done.status_code == 204  # terminal and fully delivered: EventSource stops


async def test_sse_errors_are_rest_shaped(
    http: httpx.AsyncClient, api_key: str, db: Database, principal: Principal
) -> None:
    missing = await http.get(
        stream_path("sess_0123456789abcdef"), headers={"Authorization": api_key}
    )
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "session sess_0123456789abcdef not found"}
    }
    unauthenticated = await http.get(stream_path("sess_0123456789abcdef"))
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    assert unauthenticated.json()["error"]["code"] == "unauthenticated"
    session = await new_session(db, principal)
    bad = await http.get(
        stream_path(session), headers={"Authorization": api_key, "Last-Event-ID": "x"}
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == {
        "code": "invalid_input",
        "message": "Last-Event-ID must be a sequence number (0 to 2147483647)",
        "field": "Last-Event-ID",
    }


async def test_sse_events_are_the_rest_event_bodies(
    http: httpx.AsyncClient, api_key: str, db: Database, principal: Principal
) -> None:
    """An event's `data` is, byte for byte, the event `GET /:id/events` lists."""
    session = await new_session(db, principal)
    await append(db, principal, session, 2)
    headers = {"Authorization": api_key}
    listed = await http.get(f"/v1/products/generation/sessions/{session}/events", headers=headers)
    expected = [json.dumps(e, separators=(",", ":")) for e in listed.json()["data"]]
    sent: list[str] = []
    async with http.stream("GET", stream_path(session), headers=headers) as response:
        async for line in response.aiter_lines():
            if line.startswith('data: {"createdAt"'):
                sent.append(line.removeprefix("data: "))
                if len(sent) == 2:
                    break
    assert sent == expected


async def test_sse_keepalive_comments_and_deletion(
    http: httpx.AsyncClient, api_key: str, db: Database, principal: Principal
) -> None:
    from db.sessions import delete_session

    session = await new_session(db, principal)
    await append(db, principal, session, 1)
    seen = []
    async with http.stream(
        "GET", stream_path(session), headers={"Authorization": api_key}
    ) as response:
        async for frame in frames(response):
            seen.append(frame.event or "comment")
            if frame.comment and "comment" not in seen[:-1]:
                await delete_session(db, principal, session)
            if frame.event == "error":
                assert frame.data["error"]["code"] == "not_found"
                assert "deleted" in frame.data["error"]["message"]
    assert seen[0] == "event" and "comment" in seen and seen[-1] == "error"


async def _paced_writes(db: Database, principal: Principal, session: str, count: int) -> None:
    for _ in range(count // 10):
        await append(db, principal, session, 10)
        await asyncio.sleep(0.001)


@on_every_bus
async def test_deleting_a_session_ends_its_streams_with_the_cause(
    base_url: str, api_key: str, writer: Database, principal: Principal
) -> None:
    from db.sessions import delete_session

    db = writer
    session = await new_session(db, principal)
    await append(db, principal, session, 2)
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session})
        assert (await ws.events("e", 2))[0] == [1, 2]
        await delete_session(db, principal, session)
        seen, error = await ws.events("e")
        assert seen == [] and error["type"] == "next"
        assert error["payload"]["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
        assert error["payload"]["errors"][0]["message"] == f"session {session} was deleted"
        assert await ws.recv() == {"id": "e", "type": "complete"}


async def test_terminal_session_replays_then_completes(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 3)
    await update_session(db, principal, session, {"status": "cancelled"})
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session, "a": 1})
        assert await ws.events("e") == ([2, 3], {"id": "e", "type": "complete"})


async def test_shared_execution_respects_each_selection(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    """Subscribers share one execution per event only when their selections agree."""
    session = await new_session(db, principal)
    query = (
        "subscription($s: ID!, $a: Int, $m: Boolean!) { sessionEvents(sessionId: $s, "
        "afterSequence: $a) { sequence message @include(if: $m) } }"
    )
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("with", query, {"s": session, "m": True})
        await ws.subscribe("without", query, {"s": session, "m": False, "a": 0})
        await ws.subscribe("plain", EVENTS, {"s": session})
        await append(db, principal, session, 1)
        got = {}
        while len(got) < 3:
            message = await ws.recv()
            got[message["id"]] = message["payload"]["data"]["sessionEvents"]
    assert got == {
        "with": {"sequence": 1, "message": "m0"},
        "without": {"sequence": 1},
        "plain": {"sequence": 1},
    }
