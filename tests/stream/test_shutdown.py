"""Stopping the server: WebSockets close with 1001 (going away), SSE streams end cleanly."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.records import Principal
from db.store.engine import Database
from tests.support.server import running_server
from tests.support.sessions import append, new_session
from tests.support.sse import frames, stream_path
from tests.support.ws import EVENTS, LEGACY, socket

pytestmark = pytest.mark.timeout(60)


async def _read_sse(base_url: str, key: str, session: str, started: asyncio.Event) -> list[str]:
    seen = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        http.stream("GET", stream_path(session), headers={"Authorization": key}) as response,
    ):
        async for frame in frames(response):
            seen.append(frame.event or "comment")
            started.set()
    return seen  # the body ended without an error: a clean end of the stream


async def test_shutdown_says_going_away(
    app: Starlette, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 1)
    server = running_server(app)
    base_url = await server.__aenter__()
    stopping: asyncio.Task[None] | None = None
    try:
        started = asyncio.Event()
        sse = asyncio.create_task(_read_sse(base_url, api_key, session, started))
        async with socket(base_url) as ws, socket(base_url, subprotocols=[LEGACY]) as legacy:
            await ws.init(api_key)
            await ws.subscribe("e", EVENTS, {"s": session})
            assert (await ws.events("e", 1))[0] == [1]
            await legacy.send({"type": "connection_init", "payload": {"Authorization": api_key}})
            assert (await legacy.recv())["type"] == "connection_ack"
            await started.wait()
            stopping = asyncio.create_task(_stop(server))
            assert (await ws.closed())[0] == 1001
            assert (await legacy.closed())[0] == 1001
        assert (await sse)[0] == "event"
        await stopping
    finally:
        if stopping is None:
            await _stop(server)


async def _stop(server: Any) -> None:
    await server.__aexit__(None, None, None)
