"""A revoked key's SSE streams end within the revocation check interval, like its WebSockets.

The stream conftest checks every 0.2 s; the bound asserted leaves room for a loaded machine
but is far below the keep-alive-forever behaviour it guards against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from db.keys import create_key, key_watch_of, revoke_key
from db.records import Principal
from db.store.engine import Database
from tests.support.sessions import append, new_session
from tests.support.sse import Frame, frames, stream_path
from tests.support.ws import EVENTS, LEGACY, TRANSPORT, socket

pytestmark = pytest.mark.timeout(60)

BOUND = 3.0  # seconds: the 0.2 s interval plus generous slack for a busy machine
REVOKED_BODY = {"error": {"code": "unauthenticated", "message": "the API key was revoked"}}


@dataclass
class Stream:
    """One SSE stream read in the background: its frames and when its body ended."""

    frames: list[Frame] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None

    def events(self) -> list[int]:
        return [frame.data["sequence"] for frame in self.frames if frame.event == "event"]

    def last(self) -> Frame:
        return [frame for frame in self.frames if not frame.comment][-1]


async def _read(http: httpx.AsyncClient, key: str, session: str, stream: Stream) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.stream("GET", stream_path(session), headers=headers) as response:
        assert response.status_code == 200
        stream.opened.set()
        async for frame in frames(response):
            stream.frames.append(frame)
    stream.ended_at = time.monotonic()


async def _until(condition: Callable[[], bool], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polls state the server changes
            await asyncio.sleep(0.02)


async def test_revoked_keys_streams_end_and_the_other_keys_stream_goes_on(
    base_url: str, db: Database, principal: Principal, api_key: str
) -> None:
    """Several streams of the revoked key end with the error event; the org's other key
    (same organisation, same session) keeps receiving events."""
    revoked_record, revoked_key = await create_key(db, principal.organization_id, "user_gone")
    session = await new_session(db, principal)
    await append(db, principal, session, 1)
    doomed = [Stream() for _ in range(3)]
    kept = Stream()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        readers = [asyncio.create_task(_read(http, revoked_key, session, s)) for s in doomed]
        readers.append(asyncio.create_task(_read(http, api_key, session, kept)))
        try:
            await _until(lambda: all(s.events() == [1] for s in [*doomed, kept]))
            await revoke_key(db, revoked_record.id)
            revoked_at = time.monotonic()
            async with asyncio.timeout(BOUND + 5):
                await asyncio.gather(*readers[:-1])
            for stream in doomed:
                assert stream.ended_at is not None
                assert stream.ended_at - revoked_at < BOUND
                assert stream.last().event == "error"
                assert stream.last().data == REVOKED_BODY
            await append(db, principal, session, 2)
            await _until(lambda: kept.events() == [1, 2, 3])
            assert kept.ended_at is None
            # A reconnect with the revoked key is refused, so EventSource stops for good.
            again = await http.get(
                stream_path(session), headers={"Authorization": f"Bearer {revoked_key}"}
            )
            assert again.status_code == 401
            assert again.json()["error"]["code"] == "unauthenticated"
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


async def test_one_check_ends_both_transports(
    base_url: str, db: Database, principal: Principal
) -> None:
    """WebSockets (both protocols) and SSE streams of one key are registered in one watch,
    and all of them end after one revocation; nothing stays registered afterwards."""
    record, key = await create_key(db, principal.organization_id, "user_both")
    session = await new_session(db, principal)
    await append(db, principal, session, 1)
    watch = key_watch_of(db)
    stream = Stream()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        socket(base_url, subprotocols=[TRANSPORT]) as ws,
        socket(base_url, subprotocols=[LEGACY]) as legacy,
    ):
        reader = asyncio.create_task(_read(http, key, session, stream))
        try:
            await ws.init(key)
            await ws.subscribe("e", EVENTS, {"s": session})
            assert (await ws.events("e", 1))[0] == [1]
            await legacy.send({"type": "connection_init", "payload": {"Authorization": key}})
            assert (await legacy.recv())["type"] == "connection_ack"
            await _until(lambda: stream.events() == [1])
            assert len(watch._watched) == 3
            await revoke_key(db, record.id)
            revoked_at = time.monotonic()
            assert await ws.closed(BOUND) == (4403, "Forbidden: the API key was revoked")
            assert (await legacy.closed(BOUND))[0] == 4403
            async with asyncio.timeout(BOUND):
                await reader
            assert time.monotonic() - revoked_at < BOUND
            assert stream.last().data == REVOKED_BODY
            await _until(lambda: len(watch._watched) == 0)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
