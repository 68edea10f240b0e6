"""Per-caller rules on long-lived sockets: the rate limit per operation, and revocation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from db.keys import revoke_key, set_plan
from db.records import Principal
from db.store.engine import Database
from tests.graph.test_ratelimit import away_from_minute_end

pytestmark = pytest.mark.timeout(60)
WATCH = "subscription { sessionUpdates { kind sessionId } }"


async def connect(base_url: str, key: str) -> websockets.ClientConnection:
    ws = await websockets.connect(
        base_url.replace("http", "ws", 1) + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    )
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    return ws


async def receive(ws: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    return message


async def test_each_operation_spends_the_rate_limit(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    # The connection's key check (HTTP upgrade) costs nothing; each operation costs one.
    await set_plan(db, principal.organization_id, max_requests_per_minute=2)
    await away_from_minute_end()  # all three operations in one minute's budget
    async with await connect(base_url, api_key) as ws:
        for number in ("1", "2"):
            await ws.send(
                json.dumps({"id": number, "type": "subscribe", "payload": {"query": WATCH}})
            )
        await ws.send(json.dumps({"id": "3", "type": "subscribe", "payload": {"query": WATCH}}))
        refused = await receive(ws)
        assert refused["id"] == "3" and refused["type"] == "error"
        [error] = refused["payload"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert 1 <= error["extensions"]["retryAfter"] <= 60


async def test_revoked_key_closes_open_sockets(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    async with await connect(base_url, api_key) as ws:
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": WATCH}}))
        await asyncio.sleep(0.1)
        await revoke_key(db, principal.key_id)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await receive(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403
