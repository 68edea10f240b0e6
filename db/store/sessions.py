"""The statements about sessions; db/sessions.py holds their rules. A deleted session is
remembered for a day: hints are not durable, so a process whose LISTEN connection was down
asks, on reconnecting, for those buried since (db/live/feeds.py)."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db import status as status_rules
from db.models import Timestamp, events, organizations, session_tombstones, sessions
from db.records import SessionRecord
from db.store.engine import Database

Filter = tuple[Iterable[str] | None, str | None]  # (statuses readers see, creator)
_t = session_tombstones.c
# Far longer than any LISTEN outage the bus recovers from (it retries every few seconds).
TOMBSTONE_RETENTION = timedelta(days=1)


def _where(organization_id: str, session_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(sessions.c.id == session_id, sessions.c.organization_id == organization_id)


def _filtered(organization_id: str, wanted: Filter, now: datetime) -> list[Any]:
    statuses, user_id = wanted
    conditions: list[Any] = [sessions.c.organization_id == organization_id]
    if statuses is not None:
        seen = sa.text(status_rules.filter_sql(statuses, "sessions", lambda: ":now"))
        if ":now" in seen.text:
            seen = seen.bindparams(sa.bindparam("now", now, type_=Timestamp))
        conditions.append(seen)
    if user_id is not None:
        conditions.append(sessions.c.user_id == user_id)
    return conditions


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(sessions.insert().values(row))


async def count_live(conn: AsyncConnection, organization_id: str, now: datetime) -> int:
    """Live sessions of the organisation, counted under its row lock (so race-free)."""
    await conn.execute(
        sa.select(organizations.c.id).where(organizations.c.id == organization_id).with_for_update()
    )
    return await count(conn, organization_id, (status_rules.LIVE, None), now)


async def find(
    conn: AsyncConnection, organization_id: str, session_id: str, *, lock: bool = False
) -> SessionRecord | None:
    query = sa.select(sessions).where(_where(organization_id, session_id))
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return SessionRecord.from_row(row, clock.now()) if row is not None else None


async def find_many(
    conn: AsyncConnection, organization_id: str, session_ids: list[str], now: datetime
) -> list[SessionRecord]:
    rows = await conn.execute(
        sa.select(sessions).where(
            sessions.c.id.in_(session_ids), sessions.c.organization_id == organization_id
        )
    )
    return [SessionRecord.from_row(row, now) for row in rows]


async def page(
    conn: AsyncConnection,
    organization_id: str,
    wanted: Filter,
    after: tuple[datetime, str] | None,
    newest_first: bool,
    limit: int,
    now: datetime,
) -> list[SessionRecord]:
    conditions = _filtered(organization_id, wanted, now)
    if after is not None:
        key = sa.tuple_(sessions.c.created_at, sessions.c.id)
        conditions.append(key < sa.tuple_(*after) if newest_first else key > sa.tuple_(*after))
    columns = (sessions.c.created_at, sessions.c.id)
    order = [c.desc() if newest_first else c.asc() for c in columns]
    query = sa.select(sessions).where(*conditions).order_by(*order).limit(limit)
    return [SessionRecord.from_row(row, now) for row in await conn.execute(query)]


async def count(conn: AsyncConnection, organization_id: str, wanted: Filter, now: datetime) -> int:
    conditions = _filtered(organization_id, wanted, now)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(sessions).where(*conditions))
    return int(total or 0)


async def update(
    conn: AsyncConnection, session_id: str, values: dict[str, Any], now: datetime
) -> SessionRecord:
    changes = {**values, "updated_at": now, "revision": sessions.c.revision + 1}
    query = sessions.update().where(sessions.c.id == session_id).values(changes)
    row = (await conn.execute(query.returning(*sessions.c))).one()
    return SessionRecord.from_row(row, now)


async def delete(conn: AsyncConnection, organization_id: str, session_id: str) -> bool:
    """Remove the session and its log; False when the organisation has no such session."""
    found = await conn.execute(
        sa.select(sessions.c.id).where(_where(organization_id, session_id)).with_for_update()
    )
    if found.first() is None:
        return False
    await conn.execute(events.delete().where(events.c.session_id == session_id))
    await conn.execute(sessions.delete().where(sessions.c.id == session_id))
    return True


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
