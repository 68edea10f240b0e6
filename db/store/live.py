"""The statements of live reads (db/live/feeds.py) and of the expiry sweep (db/live/expiry.py)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db import status as status_rules
from db.models import events, sessions
from db.records import EventRecord, SessionRecord
from db.store.engine import Database

_s = sessions.c


async def read_log(
    db: Database, session_id: str, afters: Iterable[int], limit: int
) -> tuple[Any, list[list[EventRecord]]]:
    """The session's status, expires_at and last_sequence (None once deleted), and up to
    `limit` events after each position. The row is read first: on PostgreSQL each statement
    sees everything committed before it, so the events reach its last_sequence."""
    head = sa.select(_s.status, _s.expires_at, _s.last_sequence).where(_s.id == session_id)
    async with db.read() as conn:
        row = (await conn.execute(head)).first()
        if row is None:
            return None, []
        batches: list[list[EventRecord]] = []
        for after in afters:
            found = []
            if after < row.last_sequence:
                page = sa.select(events).where(
                    events.c.session_id == session_id, events.c.sequence > after
                )
                rows = await conn.execute(page.order_by(events.c.sequence).limit(limit))
                found = [EventRecord.from_row(r) for r in rows]
            batches.append(found)
    return row, batches


async def read_session(db: Database, session_id: str) -> SessionRecord | None:
    """The session as readers see it, whatever its organisation (callers filter)."""
    async with db.read() as conn:
        row = (await conn.execute(sa.select(sessions).where(_s.id == session_id))).first()
    return SessionRecord.from_row(row, clock.now()) if row is not None else None


async def sessions_changed(
    db: Database, organization_ids: Iterable[str], since: datetime, now: datetime
) -> list[SessionRecord]:
    """The organisations' sessions updated (or created) from `since` on, or whose
    `expiresAt` passed between `since` and `now` (expiry changes no revision)."""
    changed = sa.or_(
        _s.updated_at >= since,  # includes creation (updated_at = created_at)
        sa.and_(_s.expires_at >= since, _s.expires_at <= now),
    )
    query = sa.select(sessions).where(_s.organization_id.in_(sorted(organization_ids)), changed)
    async with db.read() as conn:
        return [SessionRecord.from_row(row, now) for row in await conn.execute(query)]


async def mark_expired(conn: AsyncConnection, now: datetime, limit: int) -> list[Any]:
    """Store `expired` on up to `limit` live sessions past `expiresAt`: (id, organization_id)
    of each one this call claimed (another process's sweep may claim others)."""
    due = sa.and_(_s.status.in_(status_rules.LIVE), _s.expires_at <= now)
    claimed = await conn.execute(
        sessions.update()
        .where(due, _s.id.in_(sa.select(_s.id).where(due).limit(limit)))
        .values(status=status_rules.EXPIRED)
        .returning(_s.id, _s.organization_id)
    )
    return list(claimed.all())


async def delete_expired(
    conn: AsyncConnection, cutoff: datetime, limit: int
) -> tuple[int, list[tuple[str, str | None]]]:
    """Delete up to `limit` sessions that expired at or before `cutoff`, and their events: how
    many were picked, and (id, organization_id) of each one deleted (another sweep may race)."""
    expired = sa.and_(_s.status == status_rules.EXPIRED, _s.expires_at <= cutoff)
    ids = list(await conn.scalars(sa.select(_s.id).where(expired).limit(limit)))
    if not ids:
        return 0, []
    await conn.execute(events.delete().where(events.c.session_id.in_(ids)))
    gone = await conn.execute(
        sessions.delete().where(_s.id.in_(ids), expired).returning(_s.id, _s.organization_id)
    )
    return len(ids), [(row.id, row.organization_id) for row in gone]
