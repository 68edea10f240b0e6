"""A session with its whole log, as one statement reads it: as of one moment, scoped."""

from __future__ import annotations

import asyncio

import orjson

from db import events as event_ops
from db import sessions as session_ops
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database
from graph.rest.reads import SESSION_DOCUMENT
from tests.conftest import new_key


async def _document(db: Database, who: Principal, session_id: str) -> tuple[dict, str] | None:  # type: ignore[type-arg]
    found = await read_sql.read_row(db, who.organization_id, SESSION_DOCUMENT, [session_id])
    return (orjson.loads(found[0]), found[1]) if found is not None else None


async def test_session_and_whole_log_in_order(db: Database, principal: Principal) -> None:
    record = await session_ops.create_session(db, principal, {})
    for i in range(3):
        await event_ops.append_event(db, principal, record.id, type="info", message=str(i))
    found = await _document(db, principal, record.id)
    assert found is not None
    body, version = found
    assert version == f"{record.id}.1.3"
    assert [(e["sequence"], e["message"]) for e in body["events"]] == [(1, "0"), (2, "1"), (3, "2")]


async def test_log_stops_at_the_sequence_the_row_shows(db: Database, principal: Principal) -> None:
    """Appends racing the read never show up without the row (and ETag) that counts them."""
    record = await session_ops.create_session(db, principal, {})
    stop = False

    async def append_forever() -> int:
        count = 0
        while not stop:
            await event_ops.append_event(db, principal, record.id, type="debug")
            count += 1
        return count

    writer = asyncio.create_task(append_forever())
    try:
        for _ in range(30):
            found = await _document(db, principal, record.id)
            assert found is not None
            body, version = found
            last = int(version.rsplit(".", 1)[1])
            assert [e["sequence"] for e in body["events"]] == list(range(1, last + 1))
            await asyncio.sleep(0)
    finally:
        stop = True
        assert await writer > 0


async def test_other_organisations_and_missing_ids_find_nothing(
    db: Database, principal: Principal
) -> None:
    record = await session_ops.create_session(db, principal, {})
    other, _ = await new_key(db)
    for who, session_id in ((other, record.id), (principal, "sess_0123456789abcdef")):
        assert await _document(db, who, session_id) is None
