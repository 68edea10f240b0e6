"""Session operations on both databases: rules, scope and pagination."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from db import clock
from db import sessions as ops
from db.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from db.models import sessions as sessions_table
from db.records import Principal
from db.store.engine import Database
from tests.conftest import new_key


async def test_create_fills_server_fields(db: Database, principal: Principal) -> None:
    record = await ops.create_session(
        db, principal, {"prd": {"name": "x"}, "product_object": {"b": 1, "a": 2}}
    )
    assert record.id.startswith("sess_") and len(record.id) == 21
    assert record.organization_id == principal.organization_id
    assert record.user_id == principal.user_id
    assert record.status == "pending"
    assert record.plan == principal.plan.snapshot()
    assert record.product_object_hash is not None and len(record.product_object_hash) == 32
    assert record.expires_at - record.created_at == timedelta(days=7)
    assert record.created_at == record.updated_at
    assert record.event_count == 0
    assert await ops.get_session(db, principal, record.id) == record


async def test_create_with_every_settable_field(db: Database, principal: Principal) -> None:
    expires = clock.now() + timedelta(hours=1)
    fields = {
        "status": "generating",
        "assembly_state": {"step": "assembling", "progress": 75, "details": {"done": 3}},
        "catalog_version": "v2.4.1",
        "prd": {"name": "AI Content Generator"},
        "product_object": {"type": "text-generation"},
        "schema_version": "1.0.0",
        "expires_at": expires,
    }
    record = await ops.create_session(db, principal, fields)
    fetched = await ops.get_session(db, principal, record.id)
    for name, value in fields.items():
        assert getattr(fetched, name) == value


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prd": [1, 2]}, "prd"),
        ({"assembly_state": "text"}, "assemblyState"),
        ({"product_object": 3}, "productObject"),
        ({"catalog_version": ""}, "catalogVersion"),
        ({"schema_version": "x" * 256}, "schemaVersion"),
        ({"status": "expired"}, "status"),
        ({"status": "paused"}, "status"),
        ({"plan": {"name": "free"}}, "plan"),
        ({"organization_id": "org_other"}, "organizationId"),
        ({"expires_at": clock.now() - timedelta(seconds=1)}, "expiresAt"),
    ],
)
async def test_create_refuses_bad_fields_and_writes_nothing(
    db: Database, principal: Principal, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await ops.create_session(db, principal, fields)
    assert caught.value.field == field
    assert (await ops.list_sessions(db, principal)).items == []


async def test_update_keeps_omitted_and_clears_nulls(db: Database, principal: Principal) -> None:
    record = await ops.create_session(
        db, principal, {"prd": {"a": 1}, "catalog_version": "v1", "product_object": {"x": 1}}
    )
    updated = await ops.update_session(
        db, principal, record.id, {"catalog_version": None, "product_object": None}
    )
    assert updated.prd == {"a": 1}
    assert updated.catalog_version is None
    assert updated.product_object is None and updated.product_object_hash is None
    assert updated.revision == record.revision + 1
    assert updated.updated_at >= record.updated_at
    assert updated.etag != record.etag
    again = await ops.update_session(db, principal, record.id, {"product_object": {"x": 2}})
    assert again.product_object_hash not in (None, record.product_object_hash)


async def test_every_legal_transition_persists(db: Database, principal: Principal) -> None:
    from db import status
    from tests.support.status import legal_targets

    for start in status.LIVE:
        for target in legal_targets(start):
            record = await ops.create_session(db, principal, {"status": start})
            updated = await ops.update_session(db, principal, record.id, {"status": target})
            assert updated.status == target
            assert (await ops.get_session(db, principal, record.id)).status == target


async def test_illegal_transitions_conflict_and_change_nothing(
    db: Database, principal: Principal
) -> None:
    assembling = await ops.create_session(db, principal, {"status": "assembling"})
    for target in ("pending", "generating", "expired"):
        with pytest.raises(Conflict):
            await ops.update_session(
                db, principal, assembling.id, {"status": target, "prd": {"x": 1}}
            )
    assert await ops.get_session(db, principal, assembling.id) == assembling
    done = await ops.update_session(db, principal, assembling.id, {"status": "completed"})
    for change in ({"status": "failed"}, {"prd": {"late": True}}, {"status": "completed"}):
        with pytest.raises(Conflict):
            await ops.update_session(db, principal, done.id, change)
    assert await ops.get_session(db, principal, done.id) == done


async def test_if_match_guards_updates(db: Database, principal: Principal) -> None:
    record = await ops.create_session(db, principal, {})
    updated = await ops.update_session(
        db, principal, record.id, {"prd": {"v": 1}}, if_match=[record.etag]
    )
    with pytest.raises(PreconditionFailed):
        await ops.update_session(
            db, principal, record.id, {"prd": {"v": 2}}, if_match=[record.etag]
        )
    assert (await ops.get_session(db, principal, record.id)).prd == updated.prd


async def test_past_expiry_reads_as_expired_and_freezes(db: Database, principal: Principal) -> None:
    record = await ops.create_session(db, principal, {"status": "generating"})
    async with db.write() as conn:
        await conn.execute(
            sa.update(sessions_table)
            .where(sessions_table.c.id == record.id)
            .values(expires_at=clock.now() - timedelta(seconds=1))
        )
    assert (await ops.get_session(db, principal, record.id)).status == "expired"
    expired = await ops.list_sessions(db, principal, statuses=["expired"])
    assert [r.id for r in expired.items] == [record.id]
    assert (await ops.list_sessions(db, principal, statuses=["generating"])).items == []
    with pytest.raises(Conflict):
        await ops.update_session(db, principal, record.id, {"status": "completed"})


async def test_delete_removes_session_and_events(db: Database, principal: Principal) -> None:
    from db.events import append_event

    record = await ops.create_session(db, principal, {})
    await append_event(db, principal, record.id, type="info")
    assert await ops.delete_session(db, principal, record.id) == record.id
    assert await ops.find_session(db, principal, record.id) is None
    with pytest.raises(NotFound):
        await ops.delete_session(db, principal, record.id)
    async with db.read() as conn:
        left = await conn.scalar(
            sa.text("SELECT count(*) FROM events WHERE session_id = :s"), {"s": record.id}
        )
    assert left == 0


async def test_other_organisations_see_nothing(db: Database, principal: Principal) -> None:
    mine = await ops.create_session(db, principal, {})
    other, _ = await new_key(db)
    missing = "sess_0000000000000000"
    for session_id in (mine.id, missing):
        assert await ops.find_session(db, other, session_id) is None
        for call in (
            ops.get_session(db, other, session_id),
            ops.update_session(db, other, session_id, {"prd": {}}),
            ops.delete_session(db, other, session_id),
        ):
            with pytest.raises(NotFound) as caught:
                await call
            assert caught.value.message == f"session {session_id} not found"
    assert (await ops.list_sessions(db, other)).items == []
    assert await ops.count_sessions(db, other) == 0
    assert await ops.sessions_by_id(db, other, [mine.id]) == {}
    assert await ops.get_session(db, principal, mine.id) == mine


async def test_same_user_id_in_two_organisations_stays_apart(db: Database) -> None:
    first, _ = await new_key(db, user="user_shared")
    second, _ = await new_key(db, user="user_shared")
    await ops.create_session(db, first, {})
    assert (await ops.list_sessions(db, second, user_id="user_shared")).items == []


async def test_list_walks_newest_first_without_gaps(db: Database, principal: Principal) -> None:
    created = [await ops.create_session(db, principal, {}) for _ in range(25)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await ops.list_sessions(db, principal, limit=10, after=cursor)
        seen += [r.id for r in page.items]
        # Sessions created during the walk must not disturb it.
        await ops.create_session(db, principal, {})
        if not page.has_more:
            break
        cursor = ops.cursor_of(page.items[-1])
    expected = sorted(created, key=lambda r: (r.created_at, r.id), reverse=True)
    assert seen == [r.id for r in expected]
    oldest_first = await ops.list_sessions(db, principal, limit=3, newest_first=False)
    assert [r.id for r in oldest_first.items] == [r.id for r in expected[::-1][:3]]


async def test_list_filters_by_status_and_user(db: Database, principal: Principal) -> None:
    a = await ops.create_session(db, principal, {"status": "generating"})
    b = await ops.create_session(db, principal, {"status": "completed"})
    await ops.create_session(db, principal, {})
    page = await ops.list_sessions(db, principal, statuses=["generating", "completed"])
    assert {r.id for r in page.items} == {a.id, b.id}
    assert await ops.count_sessions(db, principal, statuses=["generating", "completed"]) == 2
    assert await ops.count_sessions(db, principal, user_id=principal.user_id) == 3
    assert await ops.count_sessions(db, principal, user_id="user_nobody") == 0
    with pytest.raises(InvalidInput):
        await ops.list_sessions(db, principal, statuses=["paused"])
    for bad in (0, 101, -1):
        with pytest.raises(InvalidInput):
            await ops.list_sessions(db, principal, limit=bad)


async def test_concurrent_creates_respect_max_sessions(db: Database) -> None:
    from dataclasses import replace

    from db.errors import LimitExceeded
    from db.records import Plan

    principal, _ = await new_key(db)
    limited = replace(principal, plan=Plan("Tiny", max_sessions=5, max_requests_per_minute=60))
    results = await asyncio.gather(
        *(ops.create_session(db, limited, {}) for _ in range(20)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert all(isinstance(r, LimitExceeded) for r in results if isinstance(r, BaseException))
    # Terminal sessions do not count against the limit.
    done = await ops.create_session(db, limited, {"status": "completed"})
    assert done.status == "completed"
