"""Idempotency records: one claim per (organisation, key), replay, mismatch, rollback, expiry."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from db import clock
from db import sessions as session_ops
from db.errors import IdempotencyKeyReused, InvalidInput
from db.idempotency import StoredResponse, claim, fingerprint
from db.models import idempotency_keys, sessions
from db.records import Principal
from db.store import idempotency as store
from db.store.engine import Database
from tests.conftest import new_key

RESPONSE = StoredResponse(status_code=201, headers={"Location": "/x"}, body='{"ok":true}')


async def find_record(db: Database, principal: Principal, key: str) -> StoredResponse | None:
    """The live record of a key; expired ones count as absent."""
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


async def purge_expired(db: Database, now: datetime) -> int:
    """Every expired record deleted, a batch per transaction, as claims sweep them."""
    total = 0
    while True:
        async with db.write() as conn:
            deleted = await store.purge_expired(conn, now)
        total += deleted
        if deleted == 0:
            return total


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint("post", "/a", {"x": 1, "y": [1, {"b": 2, "a": 1}]}) == fingerprint(
        "POST", "/a", {"y": [1, {"a": 1, "b": 2}], "x": 1}
    )
    assert fingerprint("POST", "/a", {"x": 1}) != fingerprint("POST", "/a", {"x": 2})
    assert fingerprint("POST", "/a", {}) != fingerprint("POST", "/b", {})
    assert fingerprint("POST", "/a", {"big": 2**70}) != fingerprint("POST", "/a", {"big": 2**71})


async def test_keys_are_1_to_255_characters(db: Database, principal: Principal) -> None:
    async with claim(db, principal, "k" * 255, "f") as held:
        assert held.replay is None
        await held.record(RESPONSE)
    for bad in ("", "k" * 256):
        with pytest.raises(InvalidInput):
            async with claim(db, principal, bad, "f"):
                pass


async def test_first_claim_runs_and_records_later_ones_replay(
    db: Database, principal: Principal
) -> None:
    async with claim(db, principal, "k1", "f") as first:
        assert first.replay is None
        await session_ops.create_session(db, principal, {}, conn=first.conn)
        await first.record(RESPONSE)
    async with claim(db, principal, "k1", "f") as second:
        assert second.replay == RESPONSE
    assert await find_record(db, principal, "k1") == RESPONSE
    with pytest.raises(IdempotencyKeyReused):
        async with claim(db, principal, "k1", "other"):
            pass


async def test_a_failure_rolls_back_the_claim_and_the_operation(
    db: Database, principal: Principal
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with claim(db, principal, "k2", "f") as held:
            await session_ops.create_session(db, principal, {}, conn=held.conn)
            raise RuntimeError("boom")
    assert await find_record(db, principal, "k2") is None
    assert await session_ops.count_sessions(db, principal) == 0
    with pytest.raises(RuntimeError, match="without a recorded response"):
        async with claim(db, principal, "k2", "f"):
            pass  # forgot to record: nothing is kept
    assert await find_record(db, principal, "k2") is None


async def test_keys_are_per_organisation(db: Database, principal: Principal) -> None:
    other, _ = await new_key(db)
    for who in (principal, other):
        async with claim(db, who, "same", f"f-{who.organization_id}") as held:
            assert held.replay is None
            await held.record(RESPONSE)


async def test_concurrent_claims_run_the_operation_once(db: Database, principal: Principal) -> None:
    ran = 0

    async def attempt() -> StoredResponse:
        nonlocal ran
        async with claim(db, principal, "race", "f") as held:
            if held.replay is not None:
                return held.replay
            ran += 1
            record = await session_ops.create_session(db, principal, {}, conn=held.conn)
            await asyncio.sleep(0.05)  # keep the claim in flight while the others arrive
            stored = StoredResponse(201, {}, record.id)
            await held.record(stored)
            return stored

    results = await asyncio.gather(*(attempt() for _ in range(8)))
    assert ran == 1
    assert len({r.body for r in results}) == 1
    assert await session_ops.count_sessions(db, principal) == 1


async def test_expired_records_are_gone_and_purged(db: Database, principal: Principal) -> None:
    async with claim(db, principal, "old", "f", retention=timedelta(milliseconds=1)) as held:
        await held.record(RESPONSE)
    await asyncio.sleep(0.01)
    assert await find_record(db, principal, "old") is None
    async with claim(db, principal, "old", "new fingerprint") as again:
        assert again.replay is None  # an expired key is free again
        await again.record(RESPONSE)
    async with claim(db, principal, "gone", "f", retention=timedelta(milliseconds=1)) as held:
        await held.record(RESPONSE)
    assert await purge_expired(db, clock.now() + timedelta(days=2)) >= 2
    async with db.read() as conn:
        left = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.organization_id == principal.organization_id)
        )
    assert left == 0


async def test_session_row_and_claim_commit_together(db: Database, principal: Principal) -> None:
    async with claim(db, principal, "together", "f") as held:
        record = await session_ops.create_session(db, principal, {}, conn=held.conn)
        await held.record(StoredResponse(201, {}, record.id))
    async with db.read() as conn:
        assert await conn.scalar(sa.select(sessions.c.id).where(sessions.c.id == record.id))
