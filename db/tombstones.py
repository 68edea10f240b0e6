"""Deleted sessions, remembered for a day after their rows are gone.

Hints about deletions are not durable: a process whose LISTEN connection was down when a
session was deleted elsewhere would never hear of it, and an organisation-wide
`sessionUpdates` watcher would keep showing a session that no longer exists. Each
deletion therefore leaves a tombstone in the same transaction, and a reconnecting process
asks for the tombstones laid since its outage began (`db/live/feeds.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db.models import session_tombstones
from db.store.engine import Database

# Far longer than any LISTEN outage the bus recovers from (it retries every few seconds).
TOMBSTONE_RETENTION = timedelta(days=1)


async def bury(
    conn: AsyncConnection, deleted: Iterable[tuple[str, str | None]], at: datetime
) -> None:
    """Lay a tombstone for each `(session id, organisation id)`, inside the deleting transaction."""
    rows = [{"session_id": s, "organization_id": o, "deleted_at": at} for s, o in deleted]
    if rows:
        await conn.execute(session_tombstones.insert(), rows)


async def deleted_since(
    db: Database, organization_ids: Iterable[str], since: datetime
) -> list[tuple[str, str | None, datetime]]:
    """`(session id, organisation id, deleted at)` of sessions deleted at or after `since`."""
    t = session_tombstones.c
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(t.session_id, t.organization_id, t.deleted_at)
            .where(t.organization_id.in_(list(organization_ids)), t.deleted_at >= since)
            .order_by(t.deleted_at, t.session_id)
        )
        return [(r.session_id, r.organization_id, clock.as_utc(r.deleted_at)) for r in rows]


async def forget_old(db: Database, now: datetime | None = None) -> int:
    """Drop tombstones older than the retention; how many."""
    cutoff = (now or clock.now()) - TOMBSTONE_RETENTION
    async with db.write() as conn:
        result = await conn.execute(
            session_tombstones.delete().where(session_tombstones.c.deleted_at < cutoff)
        )
    return int(result.rowcount or 0)
