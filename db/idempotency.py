"""Idempotency keys: a retried request gets the first response back, not a second resource.

The claim is the row itself. `(organization_id, key)` is the primary key, and the claim,
the operation it guards and the response it produced commit in one transaction. A
concurrent request with the same key waits on that key (PostgreSQL's unique index; on
SQLite the single writer) until the first one commits, then replays its response. If the
first one fails, its claim rolls back with it and the next one runs. So exactly one
resource is created, no request ever sees a claim in flight, and a crash can never leave
a resource without its recorded response (or the reverse). Rows live in the database,
so they survive restarts and are shared by every server process.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db.errors import IdempotencyKeyReused, InvalidInput
from db.models import idempotency_keys
from db.records import Principal
from db.store.engine import Database

MAX_KEY_LENGTH = 255
DEFAULT_RETENTION = timedelta(hours=24)
# Expired rows of every organisation are swept by about one claim in this many.
_PURGE_ONE_IN = 100


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first request answered, exactly as it goes back on a replay."""

    status_code: int
    headers: dict[str, str]
    body: str


@dataclass(slots=True)
class Claim:
    """Either a replay of the first response, or the right to run and `record` a new one.

    `conn` is the claim's transaction: run the operation on it so both commit together.
    """

    conn: AsyncConnection
    replay: StoredResponse | None
    _recorded: StoredResponse | None = field(default=None)

    async def record(self, response: StoredResponse) -> None:
        self._recorded = response

    @property
    def recorded(self) -> StoredResponse | None:
        return self._recorded


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters", field="Idempotency-Key"
        )
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    """Same method, path and JSON value give the same fingerprint, whatever the key order."""
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@asynccontextmanager
async def claim(
    db: Database,
    principal: Principal,
    key: str,
    request_fingerprint: str,
    *,
    retention: timedelta = DEFAULT_RETENTION,
) -> AsyncIterator[Claim]:
    """Claim `key` for this organisation, or hand back the response it already produced.

    A key reused for a different request raises `IdempotencyKeyReused`. The caller must
    `record` the response of a fresh claim before leaving the block; an exception in the
    block releases the claim, so the client may retry with the same key.
    """
    check_key(key)
    now = clock.now()
    scope = (
        idempotency_keys.c.organization_id == principal.organization_id,
        idempotency_keys.c.key == key,
    )
    async with db.write() as conn:
        await conn.execute(
            idempotency_keys.delete().where(*scope, idempotency_keys.c.expires_at <= now)
        )
        if secrets.randbelow(_PURGE_ONE_IN) == 0:
            await _purge(conn, now)
        row = {
            "organization_id": principal.organization_id,
            "key": key,
            "fingerprint": request_fingerprint,
            "status_code": 0,
            "headers": {},
            "body": "",
            "created_at": now,
            "expires_at": now + retention,
        }
        if await _insert_if_absent(conn, db.dialect, row):
            fresh = Claim(conn=conn, replay=None)
            yield fresh
            stored = fresh.recorded
            if stored is None:
                raise RuntimeError("an idempotency claim was left without a recorded response")
            await conn.execute(
                idempotency_keys.update()
                .where(*scope)
                .values(status_code=stored.status_code, headers=stored.headers, body=stored.body)
            )
            return
        first = (await conn.execute(sa.select(idempotency_keys).where(*scope))).one()
        if first.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request; "
                "use a new key for a new request",
                field="Idempotency-Key",
            )
        yield Claim(
            conn=conn,
            replay=StoredResponse(
                status_code=first.status_code, headers=dict(first.headers), body=first.body
            ),
        )


async def _insert_if_absent(conn: AsyncConnection, dialect: str, row: dict[str, Any]) -> bool:
    """Insert the claim unless the key exists; waits for a concurrent claim to finish first."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(idempotency_keys)
        .values(row)
        .on_conflict_do_nothing(index_elements=["organization_id", "key"])
        .returning(idempotency_keys.c.key)
    )
    return (await conn.execute(statement)).first() is not None


async def _purge(conn: AsyncConnection, now: datetime, *, batch: int = 1000) -> int:
    """Delete up to `batch` expired rows; rows another sweep holds are skipped, not waited on
    (so two sweeps never deadlock on PostgreSQL; SQLite has one writer anyway)."""
    key = sa.tuple_(idempotency_keys.c.organization_id, idempotency_keys.c.key)
    expired = (
        sa.select(idempotency_keys.c.organization_id, idempotency_keys.c.key)
        .where(idempotency_keys.c.expires_at <= now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(idempotency_keys.delete().where(key.in_(expired)))
    return int(result.rowcount or 0)


async def purge_expired(db: Database, now: datetime | None = None) -> int:
    """Delete every record past its retention, a batch per transaction; returns how many."""
    total = 0
    while True:
        async with db.write() as conn:
            deleted = await _purge(conn, now or clock.now())
        total += deleted
        if deleted == 0:
            return total


async def find_record(db: Database, principal: Principal, key: str) -> StoredResponse | None:
    """The live record of a key (for tests and operators); expired ones count as absent."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(idempotency_keys).where(
                    idempotency_keys.c.organization_id == principal.organization_id,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.expires_at > clock.now(),
                )
            )
        ).first()
    if row is None:
        return None
    return StoredResponse(status_code=row.status_code, headers=dict(row.headers), body=row.body)
