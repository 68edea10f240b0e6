"""Several server processes on one PostgreSQL database act as one service, no stickiness:
two separate `serve` instances, and one `serve --workers 2`, behind any load balancer."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import websockets

from db.store.engine import Database
from tests.conftest import new_key

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(database_url: str, *, workers: int = 1) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "SESSIONGRAPH_DATABASE_URL": database_url,
        "SESSIONGRAPH_LOG_LEVEL": "warning",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "graph", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for _ in range(300):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never became ready")


@asynccontextmanager
async def subscription(
    base: str, key: str, query: str, variables: dict[str, object]
) -> AsyncIterator[websockets.ClientConnection]:
    url = base.replace("http", "ws", 1) + "/graphql"
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        yield ws


async def gql(
    base: str, key: str, query: str, variables: dict[str, object] | None = None
) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        body = (
            await http.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {key}"},
            )
        ).json()
    assert "errors" not in body, body
    data: dict[str, object] = body["data"]
    return data


@pytest.fixture
async def api_key(postgres_url: str) -> AsyncIterator[str]:
    db = Database(postgres_url)
    try:
        yield (await new_key(db))[1]
    finally:
        await db.dispose()


async def test_two_instances_share_writes_and_live_events(postgres_url: str, api_key: str) -> None:
    with serving(postgres_url) as first, serving(postgres_url) as second:
        await asyncio.gather(wait_ready(first), wait_ready(second))
        created = await gql(
            first, api_key, "mutation { createSession(input: {status: GENERATING}) { id } }"
        )
        session_id = created["createSession"]["id"]  # type: ignore[index]
        watch = "subscription($s: ID!) { sessionEvents(sessionId: $s) { sequence message } }"
        async with subscription(first, api_key, watch, {"s": session_id}) as ws:
            for index in range(1, 6):
                await gql(
                    second,
                    api_key,
                    "mutation($s: ID!, $m: String) { appendEvent(sessionId: $s, input: {type: INFO, message: $m}) { sequence } }",
                    {"s": session_id, "m": f"via second {index}"},
                )
            seen = []
            while len(seen) < 5:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
                assert message["type"] == "next", message
                seen.append(message["payload"]["data"]["sessionEvents"]["sequence"])
        assert seen == [1, 2, 3, 4, 5]
        read = await gql(
            second, api_key, "query($s: ID!) { session(id: $s) { eventCount } }", {"s": session_id}
        )
        assert read == {"session": {"eventCount": 5}}


async def test_workers_answer_any_request(postgres_url: str, api_key: str) -> None:
    with serving(postgres_url, workers=2) as base:
        await wait_ready(base)
        session = await gql(base, api_key, "mutation { createSession(input: {}) { id } }")
        session_id = session["createSession"]["id"]  # type: ignore[index]
        # Fresh connections land on either worker; every one sees the same data.
        results = await asyncio.gather(
            *(
                gql(
                    base,
                    api_key,
                    "mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: DEBUG}) { sequence } }",
                    {"s": session_id},
                )
                for _ in range(20)
            )
        )
        assert sorted(r["appendEvent"]["sequence"] for r in results) == list(range(1, 21))  # type: ignore[index]
