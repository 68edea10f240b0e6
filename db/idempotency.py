"""Idempotency keys: a retried request gets the first response back, not a second resource.
The claim is the row itself; it, the operation and the response commit in one transaction, so
a concurrent request with the key waits on it and then replays the response (or runs, if the
first rolled back), and no crash leaves a resource without its response or the reverse."""

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db.errors import IdempotencyKeyReused, InvalidInput
from db.records import Principal
from db.store import idempotency as store
from db.store.engine import Database

MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
# Expired rows of every organisation are swept by about one claim in this many.
_PURGE_ONE_IN = 100


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: str


@dataclass(slots=True)
class Claim:
    """A replay, or the right to run on `conn` (the claim's transaction) and `record`."""

    conn: AsyncConnection
    replay: StoredResponse | None
    recorded: StoredResponse | None = None

    async def record(self, response: StoredResponse) -> None:
        self.recorded = response


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
    retention: timedelta = RETENTION,
) -> AsyncIterator[Claim]:
    """Claim `key`, or replay what it answered (`IdempotencyKeyReused` for another request).
    A fresh claim must `record` before the block ends; an exception releases the claim."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters", field="Idempotency-Key"
        )
    now = clock.now()
    organization_id = principal.organization_id
    async with db.write() as conn:
        if secrets.randbelow(_PURGE_ONE_IN) == 0:
            await store.purge_expired(conn, now)
        first = await store.take_claim(
            conn, organization_id, key, request_fingerprint, now, retention
        )
        if first is None:
            fresh = Claim(conn=conn, replay=None)
            yield fresh
            if fresh.recorded is None:
                raise RuntimeError("an idempotency claim was left without a recorded response")
            await store.record_response(conn, organization_id, key, asdict(fresh.recorded))
            return
        if first.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request; "
                "use a new key for a new request",
                field="Idempotency-Key",
            )
        yield Claim(conn, StoredResponse(first.status_code, dict(first.headers), first.body))
