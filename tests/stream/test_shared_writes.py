"""Shared fan-out writes put exactly Strawberry's bytes on the wire, once encoded per event.

Two servers on one database: one writes shared pre-encoded messages (the default), one
runs Strawberry's per-subscriber path (`ws_shared_writes=False`). The same subscriptions
on both must receive byte-identical frames: replayed and live events, completion, the
deletion error, on graphql-transport-ws and legacy graphql-ws.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from strawberry.extensions import SchemaExtension

from db.records import Principal
from db.sessions import delete_session, update_session
from db.store.engine import Database
from graph.app import create_app
from graph.live.fanout import (
    COUNTS,
    legacy_prefix,
    results_untouched_by_extensions,
    transport_prefix,
)
from graph.settings import Settings
from tests.support.server import running_server
from tests.support.sessions import append, new_session
from tests.support.ws import LEGACY, TRANSPORT, Socket, socket

pytestmark = pytest.mark.timeout(60)

# Every field, an alias, a fragment, __typename and a directive on a selection variable.
RICH = """
subscription Watch($s: ID!, $a: Int, $withPayload: Boolean!) {
  sessionEvents(sessionId: $s, afterSequence: $a) {
    __typename
    ...Parts
    seq: sequence
    payload @include(if: $withPayload)
  }
}
fragment Parts on Event { id sequence sessionId organizationId userId type stage message createdAt }
"""
# An operation id that needs escaping in JSON.
OP_ID = 'op "1" / é'
SHARING = 3  # subscribers of the shared server with the same selection


@asynccontextmanager
async def per_subscriber_server(settings: Settings, db: Database) -> AsyncIterator[str]:
    app: Starlette = create_app(
        settings.model_copy(update={"ws_shared_writes": False}), database=db
    )
    async with running_server(app) as url:
        yield url


async def _start(
    ws: Socket, protocol: str, key: str, query: str, variables: dict[str, Any]
) -> None:
    await ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    assert (await ws.recv())["type"] == "connection_ack"
    kind = "subscribe" if protocol == TRANSPORT else "start"
    await ws.send({"id": OP_ID, "type": kind, "payload": {"query": query, "variables": variables}})


async def _frames(ws: Socket) -> list[str]:
    """Raw text of every frame of the operation, through its `complete`."""
    frames: list[str] = []
    async with asyncio.timeout(20):
        while True:
            raw = await ws.conn.recv()
            assert isinstance(raw, str)
            message = orjson.loads(raw)
            if message.get("id") != OP_ID:
                continue  # legacy keep-alives
            frames.append(raw)
            if message["type"] == "complete":
                return frames


async def _both(
    base_url: str,
    settings: Settings,
    db: Database,
    protocol: str,
    key: str,
    variables: dict[str, Any],
    act: Any,
) -> tuple[list[list[str]], list[str]]:
    """Frames of `SHARING` shared subscribers and of one per-subscriber one, after `act()`."""
    async with AsyncExitStack() as stack:
        other = await stack.enter_async_context(per_subscriber_server(settings, db))
        # Each socket starts right after it opens: the test servers' `connection_init`
        # timeout is short, and a socket left waiting for the others would be closed.
        shared: list[Socket] = []
        for _ in range(SHARING):
            ws = await stack.enter_async_context(socket(base_url, subprotocols=[protocol]))
            await _start(ws, protocol, key, RICH, variables)
            shared.append(ws)
        alone = await stack.enter_async_context(socket(other, subprotocols=[protocol]))
        # Different text, same meaning: its own parse, so its own execution of each event.
        await _start(alone, protocol, key, RICH + " ", variables)
        await asyncio.sleep(0.2)
        await act()
        return await asyncio.gather(*(_frames(ws) for ws in shared)), await _frames(alone)


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_replay_live_and_completion_are_byte_identical(
    base_url: str,
    settings: Settings,
    db: Database,
    api_key: str,
    principal: Principal,
    protocol: str,
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 3)  # replayed
    before = (COUNTS.encodings, COUNTS.writes)

    async def act() -> None:
        await append(db, principal, session, 4)  # live
        await update_session(db, principal, session, {"status": "completed"})

    variables = {"s": session, "a": 1, "withPayload": True}
    shared, alone = await _both(base_url, settings, db, protocol, api_key, variables, act)
    for frames in shared:
        assert frames == alone
    data = [orjson.loads(f)["payload"]["data"]["sessionEvents"] for f in alone[:-1]]
    assert [d["seq"] for d in data] == list(range(2, 8))
    assert orjson.loads(alone[-1]) == {"id": OP_ID, "type": "complete"}
    # Each event executed and encoded once for the shared subscribers, written to each.
    assert (COUNTS.encodings - before[0], COUNTS.writes - before[1]) == (6, 6 * SHARING)


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_deletion_error_is_byte_identical(
    base_url: str,
    settings: Settings,
    db: Database,
    api_key: str,
    principal: Principal,
    protocol: str,
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 2)

    async def act() -> None:
        await append(db, principal, session, 1)
        await asyncio.sleep(0.2)
        await delete_session(db, principal, session)

    variables = {"s": session, "withPayload": False}
    shared, alone = await _both(base_url, settings, db, protocol, api_key, variables, act)
    for frames in shared:
        assert frames == alone
    messages = [orjson.loads(f) for f in alone]
    assert [m["payload"]["data"]["sessionEvents"]["seq"] for m in messages[:3]] == [1, 2, 3]
    assert "payload" not in messages[0]["payload"]["data"]["sessionEvents"]
    assert messages[3]["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert messages[4] == {"id": OP_ID, "type": "complete"}
    assert len(messages) == 5


def test_prefixes_splice_the_id_as_the_handlers_encode_it() -> None:
    payload = {"data": {"x": 1}}
    for prefix, message in (
        (transport_prefix(OP_ID), {"id": OP_ID, "type": "next", "payload": payload}),
        (legacy_prefix(OP_ID), {"type": "data", "id": OP_ID, "payload": payload}),
    ):
        assert prefix + orjson.dumps(payload).decode() + "}" == orjson.dumps(message).decode()


class _AddsResults(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        return {"cost": 1}


def test_extensions_that_add_to_results_turn_sharing_off() -> None:
    assert results_untouched_by_extensions([SchemaExtension()])
    assert not results_untouched_by_extensions([SchemaExtension(), _AddsResults()])
