"""Small helpers that create sessions and append events through the db operations."""

from __future__ import annotations

from typing import Any

from db.events import append_event
from db.records import EventRecord, Principal, SessionRecord
from db.sessions import create_session
from db.store.engine import Database


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
    """A session's record and its whole log, through the rule operations."""
    from db.events import list_events
    from db.sessions import get_session

    record = await get_session(db, principal, session_id)
    page = await list_events(db, principal, session_id, limit=None)
    return record, page.items
