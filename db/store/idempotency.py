"""Statements on `idempotency_keys`: one row per (organisation, key), the claim itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import idempotency_keys
from db.store.engine import upsert

_c = idempotency_keys.c


def _the(organization_id: str, key: str) -> tuple[Any, ...]:
    return _c.organization_id == organization_id, _c.key == key


async def drop_expired_claim(
    conn: AsyncConnection, organization_id: str, key: str, now: datetime
) -> None:
    await conn.execute(
        idempotency_keys.delete().where(*_the(organization_id, key), _c.expires_at <= now)
    )


async def insert_claim(
    conn: AsyncConnection,
    organization_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    retention: timedelta,
) -> bool:
    """Insert the claim unless the key exists; waits for a concurrent claim to finish first."""
    statement = (
        upsert(conn, idempotency_keys)
        .values(
            organization_id=organization_id,
            key=key,
            fingerprint=fingerprint,
            status_code=0,
            headers={},
            body="",
            created_at=now,
            expires_at=now + retention,
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "key"])
        .returning(_c.key)
    )
    return (await conn.execute(statement)).first() is not None


async def record_response(
    conn: AsyncConnection, organization_id: str, key: str, response: dict[str, Any]
) -> None:
    await conn.execute(
        idempotency_keys.update().where(*_the(organization_id, key)).values(response)
    )


async def claimed(conn: AsyncConnection, organization_id: str, key: str) -> Any:
    """The claim's row, which must exist."""
    return (
        await conn.execute(sa.select(idempotency_keys).where(*_the(organization_id, key)))
    ).one()


async def purge_expired(conn: AsyncConnection, now: datetime, *, batch: int = 1000) -> int:
    """Delete up to `batch` expired rows; rows another sweep holds are skipped, not waited on
    (so two sweeps never deadlock on PostgreSQL; SQLite has one writer anyway)."""
    expired = (
        sa.select(_c.organization_id, _c.key)
        .where(_c.expires_at <= now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    deleted = await conn.execute(
        idempotency_keys.delete().where(sa.tuple_(_c.organization_id, _c.key).in_(expired))
    )
    return int(deleted.rowcount or 0)
