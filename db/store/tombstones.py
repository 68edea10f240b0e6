"""Deleted sessions, remembered for a day: hints are not durable, so a process whose LISTEN
connection was down asks, on reconnecting, for those buried since (db/live/feeds.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db.models import session_tombstones
from db.store.engine import Database

_t = session_tombstones.c
# Far longer than any LISTEN outage the bus recovers from (it retries every few seconds).
TOMBSTONE_RETENTION = timedelta(days=1)


async def bury(
    conn: AsyncConnection, deleted: Iterable[tuple[str, str | None]], at: datetime
) -> None:
    rows = [{"session_id": s, "organization_id": o, "deleted_at": at} for s, o in deleted]
    if rows:
        await conn.execute(session_tombstones.insert(), rows)


async def deleted_since(
    db: Database, organization_ids: Iterable[str], since: datetime
) -> list[tuple[str, str | None, datetime]]:
    """`(session id, organisation id, deleted at)` of sessions deleted at or after `since`."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(_t.session_id, _t.organization_id, _t.deleted_at)
            .where(_t.organization_id.in_(list(organization_ids)), _t.deleted_at >= since)
            .order_by(_t.deleted_at, _t.session_id)
        )
        return [(r.session_id, r.organization_id, clock.as_utc(r.deleted_at)) for r in rows]


async def forget_old(db: Database, now: datetime | None = None) -> int:
    cutoff = (now or clock.now()) - TOMBSTONE_RETENTION
    async with db.write() as conn:
        result = await conn.execute(session_tombstones.delete().where(_t.deleted_at < cutoff))
    return int(result.rowcount or 0)
