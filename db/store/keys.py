"""Statements on API keys and their organisations (whose columns are the plan). The key check
runs on the raw driver; planned reads (db/store/read_sql.py) fold it into their statement."""

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db.models import api_keys, organizations
from db.records import KeyRecord, Plan, Principal
from db.store.engine import Database, upsert

PRINCIPAL_COLUMNS = (
    "k.id, k.organization_id, k.user_id, o.plan_name, o.max_sessions, o.max_requests_per_minute"
)
KEY_SOURCE = "api_keys k JOIN organizations o ON o.id = k.organization_id"
_k = api_keys.c


def live_key(placeholder: str) -> str:
    return f"k.key_hash = {placeholder} AND k.revoked_at IS NULL"


# By engine (is it SQLite?): the placeholders are numbered in each engine's own way.
AUTHENTICATE = {
    sqlite: f"SELECT {PRINCIPAL_COLUMNS} FROM {KEY_SOURCE} WHERE {live_key(mark)}"
    for sqlite, mark in ((True, "?1"), (False, "$1"))
}


def principal_from_row(row: Sequence[Any]) -> Principal:
    """A row that starts with `PRINCIPAL_COLUMNS`."""
    key_id, organization_id, user_id = row[:3]
    return Principal(key_id, organization_id, user_id, Plan(*row[3:6]))


async def principal_for_hash(db: Database, key_hash: str) -> Principal | None:
    row = await db.lean.fetch_row(AUTHENTICATE[db.is_sqlite], (key_hash,))
    return principal_from_row(row) if row is not None else None


async def put_organization(
    conn: AsyncConnection, organization_id: str, plan: Plan, changes: dict[str, object]
) -> None:
    """Create the organisation with `plan` unless it exists; then set `changes` (columns)."""
    insert = upsert(conn, organizations).values(
        id=organization_id,
        plan_name=plan.name,
        max_sessions=plan.max_sessions,
        max_requests_per_minute=plan.max_requests_per_minute,
        created_at=clock.now(),
    )
    if changes:
        await conn.execute(
            insert.values(changes).on_conflict_do_update(index_elements=["id"], set_=changes)
        )
    else:
        await conn.execute(insert.on_conflict_do_nothing())


async def list_plans(db: Database, organization_id: str | None = None) -> list[tuple[str, Plan]]:
    o = organizations.c
    query = sa.select(o.id, o.plan_name, o.max_sessions, o.max_requests_per_minute).order_by(o.id)
    if organization_id is not None:
        query = query.where(o.id == organization_id)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [(r.id, Plan(r.plan_name, r.max_sessions, r.max_requests_per_minute)) for r in rows]


async def add_key(conn: AsyncConnection, record: KeyRecord, key_hash: str) -> None:
    await conn.execute(
        api_keys.insert().values({**dataclasses.asdict(record), "key_hash": key_hash})
    )


async def list_keys(db: Database) -> list[KeyRecord]:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(api_keys).order_by(_k.created_at, _k.id))
        return [KeyRecord.from_row(r) for r in rows]


async def has_keys(db: Database) -> bool:
    async with db.read() as conn:
        return (await conn.scalar(sa.select(_k.id).limit(1))) is not None


async def revoke(db: Database, key_id: str, at: datetime) -> KeyRecord | None:
    async with db.write() as conn:
        live = (_k.id == key_id) & _k.revoked_at.is_(None)
        await conn.execute(api_keys.update().where(live).values(revoked_at=at))
        row = (await conn.execute(sa.select(api_keys).where(_k.id == key_id))).first()
    return KeyRecord.from_row(row) if row is not None else None


async def live_among(db: Database, key_ids: set[str]) -> set[str]:
    async with db.read() as conn:
        wanted = _k.id.in_(sorted(key_ids))
        return set(await conn.scalars(sa.select(_k.id).where(wanted, _k.revoked_at.is_(None))))
