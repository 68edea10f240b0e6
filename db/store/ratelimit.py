"""Statements on `rate_windows`: each organisation's count of requests leased per minute."""

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import rate_windows
from db.store.engine import Database, upsert


async def _open_window(conn: AsyncConnection, organization_id: str, minute: int) -> None:
    await conn.execute(
        upsert(conn, rate_windows)
        .values(organization_id=organization_id, minute=minute, used=0)
        .on_conflict_do_nothing()
    )


async def lease(
    db: Database, organization_id: str, minute: int, grant: Callable[[int], int]
) -> tuple[int, int]:
    """Add `grant(used)` under the row (or SQLite's write) lock: (granted, count after)."""
    key = (rate_windows.c.organization_id == organization_id) & (rate_windows.c.minute == minute)
    async with db.write() as conn:
        await _open_window(conn, organization_id, minute)
        used = await conn.scalar(sa.select(rate_windows.c.used).where(key).with_for_update()) or 0
        granted = grant(used)
        if granted:
            await conn.execute(
                rate_windows.update().where(key).values(used=rate_windows.c.used + granted)
            )
    return granted, used + granted


async def probe_lease(db: Database) -> None:
    """A lease's first write, rolled back: readiness finds a database that refuses writes
    (read-only file, standby after failover, full disk) without changing anything."""
    async with db.write() as conn:
        await _open_window(conn, "", -1)
        await conn.rollback()


async def forget_windows_before(db: Database, minute: int) -> None:
    async with db.write() as conn:
        await conn.execute(rate_windows.delete().where(rate_windows.c.minute < minute))
