"""API keys and the organisations they belong to.

Keys are 160 random bits, so a fast SHA-256 is a safe way to store them (a slow password
hash buys nothing against a key nobody can guess) and lets every request look its key up
by an index.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock, hot_reads
from db.engine import Database
from db.errors import InvalidInput, NotFound, Unauthenticated
from db.ids import new_key_id
from db.models import api_keys, organizations
from db.records import KeyRecord, MappingRow, Plan, Principal

KEY_PREFIX = "sgk_"
DEFAULT_PLAN = Plan(name="Standard", max_sessions=1000, max_requests_per_minute=600)
_MAX_NAME = 255


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(value: str, field: str) -> str:
    if not value or len(value) > _MAX_NAME or not value.isprintable() or value != value.strip():
        raise InvalidInput(f"{field} must be 1-{_MAX_NAME} printable characters", field=field)
    return value


async def ensure_organization(
    conn: AsyncConnection, organization_id: str, plan: Plan = DEFAULT_PLAN
) -> None:
    exists = await conn.scalar(
        sa.select(organizations.c.id).where(organizations.c.id == organization_id)
    )
    if exists is None:
        await conn.execute(
            organizations.insert().values(
                id=organization_id,
                plan_name=plan.name,
                max_sessions=plan.max_sessions,
                max_requests_per_minute=plan.max_requests_per_minute,
                created_at=clock.now(),
            )
        )


async def create_key(
    db: Database, organization_id: str, user_id: str, *, plan: Plan = DEFAULT_PLAN
) -> tuple[KeyRecord, str]:
    """Return the record and the secret; the secret is shown once and never stored."""
    check_name(organization_id, "org")
    check_name(user_id, "user")
    secret = KEY_PREFIX + secrets.token_hex(20)
    row = {
        "id": new_key_id(),
        "organization_id": organization_id,
        "user_id": user_id,
        "prefix": secret[:12],
        "key_hash": hash_key(secret),
        "created_at": clock.now(),
        "revoked_at": None,
    }
    async with db.write() as conn:
        await ensure_organization(conn, organization_id, plan)
        await conn.execute(api_keys.insert().values(row))
    return KeyRecord.from_row(MappingRow(row)), secret


async def authenticate(db: Database, secret: str | None) -> Principal:
    """One indexed lookup joining the organisation's plan; revoked and unknown look alike."""
    if not secret:
        raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    if not secret.startswith(KEY_PREFIX) or len(secret) > 128:
        raise Unauthenticated("the API key is not valid")
    principal = await hot_reads.principal_for_hash(db.lean, hash_key(secret))
    if principal is None:
        raise Unauthenticated("the API key is not valid or has been revoked")
    return principal


async def list_keys(db: Database) -> list[KeyRecord]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return [KeyRecord.from_row(r) for r in rows]


async def has_keys(db: Database) -> bool:
    async with db.read() as conn:
        return (await conn.scalar(sa.select(api_keys.c.id).limit(1))) is not None


async def revoke_key(db: Database, key_id: str) -> KeyRecord:
    """Revoking twice is harmless: the first revocation time is kept."""
    async with db.write() as conn:
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        )
        row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound(f"key {key_id} not found")
    return KeyRecord.from_row(row)


async def revoked_among(db: Database, key_ids: Iterable[str]) -> set[str]:
    """Which of `key_ids` no longer authenticate (revoked or gone), in one indexed read.

    For connections that outlive a request (WebSockets): a process polls this for all its
    live connections' keys every few seconds and closes those it returns, which bounds how
    long a revoked key keeps a connection open to one polling interval.
    """
    wanted = set(key_ids)
    if not wanted:
        return set()
    async with db.read() as conn:
        active = await conn.scalars(
            sa.select(api_keys.c.id).where(
                api_keys.c.id.in_(sorted(wanted)), api_keys.c.revoked_at.is_(None)
            )
        )
        return wanted - set(active)
