"""The statements that read events; appends are db/store/appends.py, rules db/events.py."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import events
from db.records import EventRecord


async def after(
    conn: AsyncConnection, session_id: str, sequence: int, limit: int | None
) -> list[EventRecord]:
    """The session's events numbered above `sequence`, in order, at most `limit`."""
    query = (
        sa.select(events)
        .where(events.c.session_id == session_id, events.c.sequence > sequence)
        .order_by(events.c.sequence)
    )
    rows = await conn.execute(query if limit is None else query.limit(limit))
    return [EventRecord.from_row(row) for row in rows]


async def in_ranges(
    conn: AsyncConnection, ranges: Iterable[tuple[str, int, int]]
) -> list[EventRecord]:
    """Events of each (session, low, high) range, in one statement, in no order."""
    wanted = [
        sa.and_(events.c.session_id == session_id, events.c.sequence.between(low, high))
        for session_id, low, high in ranges
    ]
    rows = await conn.execute(sa.select(events).where(sa.or_(*wanted)))
    return [EventRecord.from_row(row) for row in rows]


async def find(conn: AsyncConnection, organization_id: str, event_id: str) -> EventRecord | None:
    query = sa.select(events).where(
        events.c.id == event_id, events.c.organization_id == organization_id
    )
    row = (await conn.execute(query)).first()
    return EventRecord.from_row(row) if row is not None else None
