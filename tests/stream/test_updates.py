"""sessionUpdates, expiry, and organisation scope on every streaming door."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from db import clock
from db.records import Principal
from db.sessions import delete_session, get_session, update_session
from db.store.engine import Database
from tests.conftest import new_key
from tests.support.sessions import append, new_session
from tests.support.sse import stream_path
from tests.support.ws import EVENTS, socket

pytestmark = pytest.mark.timeout(60)

UPDATES = (
    "subscription($s: ID) { sessionUpdates(sessionId: $s) { kind sessionId session { status } } }"
)


async def _next_update(ws, op_id: str = "u") -> dict:  # type: ignore[no-untyped-def]
    message = await ws.recv()
    assert message["id"] == op_id and message["type"] == "next", message
    update: dict = message["payload"]["data"]["sessionUpdates"]
    return update


async def test_organisation_updates_in_order(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("u", UPDATES)
        await asyncio.sleep(0.1)
        # Each change is awaited before the next: an update carries the session as it is
        # when delivered, so a burst may show a later state under an earlier kind.
        session = await new_session(db, principal)
        kinds = [await _next_update(ws)]
        await update_session(db, principal, session, {"status": "generating"})
        kinds.append(await _next_update(ws))
        await append(db, principal, session, 1)  # events are not session updates
        await delete_session(db, principal, session)
        kinds.append(await _next_update(ws))
    assert kinds == [
        {"kind": "CREATED", "sessionId": session, "session": {"status": "PENDING"}},
        {"kind": "UPDATED", "sessionId": session, "session": {"status": "GENERATING"}},
        {"kind": "DELETED", "sessionId": session, "session": None},
    ]


async def test_one_session_updates_complete_after_deletion(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    other = await new_session(db, principal)
    session = await new_session(db, principal)
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("u", UPDATES, {"s": session})
        await asyncio.sleep(0.1)
        await update_session(db, principal, other, {"status": "failed"})  # not watched
        await update_session(db, principal, session, {"prd": {"v": 2}})
        assert (await _next_update(ws))["kind"] == "UPDATED"
        await delete_session(db, principal, session)
        assert (await _next_update(ws))["kind"] == "DELETED"
        assert await ws.recv() == {"id": "u", "type": "complete"}


async def test_expiry_is_swept_announced_and_ends_streams(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal, expires_at=clock.now() + timedelta(seconds=1))
    await append(db, principal, session, 2)
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("u", UPDATES, {"s": session})
        await ws.subscribe("e", EVENTS, {"s": session})
        messages = [await ws.recv(within=15) for _ in range(4)]
    by_id: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for message in messages:
        by_id.setdefault(message["id"], []).append(message)
    assert [m["payload"]["data"]["sessionEvents"]["sequence"] for m in by_id["e"][:2]] == [1, 2]
    assert by_id["e"][2] == {"id": "e", "type": "complete"}
    assert by_id["u"][0]["payload"]["data"]["sessionUpdates"] == {
        "kind": "EXPIRED",
        "sessionId": session,
        "session": {"status": "EXPIRED"},
    }
    assert (await get_session(db, principal, session)).status == "expired"


async def test_another_organisation_sees_nothing(
    base_url: str, http: httpx.AsyncClient, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 2)
    _, other_key = await new_key(db)
    never = "sess_0123456789abcdef"
    async with socket(base_url) as ws:
        await ws.init(other_key)
        await ws.subscribe("u", UPDATES)  # everything of B's organisation: nothing of A
        answers = []
        for op_id, query, target in (
            ("a", EVENTS, session),
            ("b", EVENTS, never),
            ("c", UPDATES, session),
            ("d", UPDATES, never),
        ):
            await ws.subscribe(op_id, query, {"s": target})
            answer = await ws.recv()
            answers.append(str(answer).replace(target, "<id>").replace(f"'{op_id}'", "<op>"))
        assert answers[0] == answers[1] and answers[2] == answers[3]
        assert "NOT_FOUND" in answers[0] and "NOT_FOUND" in answers[2]
        await update_session(db, principal, session, {"status": "generating"})
        await append(db, principal, session, 1)
        await delete_session(db, principal, session)
        await ws.send({"type": "ping"})
        assert await ws.recv() == {"type": "pong"}  # nothing of A arrived before it
    foreign = await http.get(stream_path(session), headers={"Authorization": other_key})
    missing = await http.get(stream_path(never), headers={"Authorization": other_key})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
