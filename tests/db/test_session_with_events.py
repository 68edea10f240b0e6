"""`session_with_events`: a session and its log as of one moment, scoped like every read."""

from __future__ import annotations

import asyncio

import pytest

from db import events as event_ops
from db import sessions as session_ops
from db.engine import Database
from db.errors import NotFound
from db.records import Principal
from tests.conftest import new_key


async def test_session_and_whole_log_in_order(db: Database, principal: Principal) -> None:
    record = await session_ops.create_session(db, principal, {})
    for i in range(3):
        await event_ops.append_event(db, principal, record.id, type="info", message=str(i))
    session, events = await event_ops.session_with_events(db, principal, record.id)
    assert session.last_sequence == 3 and session.etag == f'"{record.id}.1.3"'
    assert [(e.sequence, e.message) for e in events] == [(1, "0"), (2, "1"), (3, "2")]


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
            session, events = await event_ops.session_with_events(db, principal, record.id)
            assert [e.sequence for e in events] == list(range(1, session.last_sequence + 1))
            await asyncio.sleep(0)
    finally:
        stop = True
        await writer


async def test_other_organisations_and_bad_ids_are_not_found(
    db: Database, principal: Principal
) -> None:
    record = await session_ops.create_session(db, principal, {})
    other, _ = await new_key(db)
    for who, session_id in ((other, record.id), (principal, "sess_nope"), (principal, "x")):
        with pytest.raises(NotFound, match=f"session {session_id} not found"):
            await event_ops.session_with_events(db, who, session_id)
