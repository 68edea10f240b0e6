"""Statements on `idempotency_keys`: one row per (organisation, key), the claim itself."""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import idempotency_keys
from db.store.engine import upsert

_c = idempotency_keys.c


def _the(organization_id: str, key: str) -> tuple[Any, ...]:
    return _c.organization_id == organization_id, _c.key == key


async def take_claim(
    conn: AsyncConnection,
    organization_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    retention: timedelta,
) -> Any:
    """Insert the claim (after dropping an expired one, waiting on a concurrent one): None
    if inserted, else the existing claim's row."""
    the = _the(organization_id, key)
    await conn.execute(idempotency_keys.delete().where(*the, _c.expires_at <= now))
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
    if (await conn.execute(statement)).first() is not None:
        return None
    return (await conn.execute(sa.select(idempotency_keys).where(*the))).one()


async def record_response(
    conn: AsyncConnection, organization_id: str, key: str, response: dict[str, Any]
) -> None:
    await conn.execute(
        idempotency_keys.update().where(*_the(organization_id, key)).values(response)
    )


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    """Delete up to 1000 expired rows, skipping (not waiting on) those another sweep holds."""
    expired = (
        sa.select(_c.organization_id, _c.key)
        .where(_c.expires_at <= now)
        .limit(1000)
        .with_for_update(skip_locked=True)
    )
    deleted = await conn.execute(
        idempotency_keys.delete().where(sa.tuple_(_c.organization_id, _c.key).in_(expired))
    )
    return int(deleted.rowcount or 0)
