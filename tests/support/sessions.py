"""Small helpers that create sessions and append events through the db operations."""

from __future__ import annotations

from typing import Any

from db.events import append_event, events_in_windows
from db.records import EventRecord, Principal, SessionRecord
from db.sessions import create_session, get_session
from db.store.engine import Database
from db.windows import EventWindow


async def new_session(db: Database, principal: Principal, **fields: Any) -> str:
    return (await create_session(db, principal, fields)).id


async def append(db: Database, principal: Principal, session_id: str, count: int = 1) -> list[int]:
    return [
        (await append_event(db, principal, session_id, type="info", message=f"m{i}")).sequence
        for i in range(count)
    ]


async def session_and_log(
    db: Database, principal: Principal, session_id: str
) -> tuple[SessionRecord, list[EventRecord]]:
    """A session's record and its whole log, read as GraphQL's resolvers read them."""
    record = await get_session(db, principal, session_id)
    whole = EventWindow(1, record.event_count, False, False)
    return record, (await events_in_windows(db, [(session_id, whole)]))[(session_id, whole)]
