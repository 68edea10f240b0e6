"""`sessionUpdates` readers catch up on what changed while hints were missed.

Hints are dropped on purpose (no listener hears them), then the feeds are told what a
reconnecting bus tells them: hints from `since` on may have been missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from db import clock
from db.live.expiry import delete_expired, expire_due
from db.live.feeds import SessionChange, UpdateReader, feeds_of
from db.models import session_tombstones, sessions
from db.records import Principal
from db.sessions import delete_session, get_session, update_session
from db.store import sessions as tombstones
from db.store.engine import Database
from tests.conftest import new_key
from tests.support.sessions import new_session

pytestmark = pytest.mark.timeout(60)


@contextmanager
def hints_lost(db: Database) -> Iterator[None]:
    """Every hint published meanwhile goes nowhere, as during a LISTEN outage."""
    listeners = db.bus._listeners
    saved = list(listeners)
    listeners.clear()
    try:
        yield
    finally:
        listeners.extend(saved)


async def _changes(reader: UpdateReader, within: float = 0.5) -> list[tuple[str, str, int | None]]:
    """`(kind, session id, revision)` of everything the reader holds or gets within `within`."""
    seen: list[tuple[str, str, int | None]] = []

    async def drain() -> None:
        async for change in reader:
            seen.append((change.kind, change.session_id, _revision(change)))

    try:
        async with asyncio.timeout(within):
            await drain()
    except TimeoutError:
        pass
    return seen


async def _backdate(db: Database, *ids: str) -> None:
    """Move the sessions' last change a minute back: well before any outage in the test."""
    async with db.write() as conn:
        await conn.execute(
            sa.update(sessions)
            .where(sessions.c.id.in_(ids))
            .values(
                created_at=clock.now() - timedelta(minutes=1),
                updated_at=clock.now() - timedelta(minutes=1),
            )
        )


def _revision(change: SessionChange) -> int | None:
    return change.session.revision if change.session is not None else None


async def test_one_session_gets_its_new_revision_once(db: Database, principal: Principal) -> None:
    session = await new_session(db, principal)
    found = await get_session(db, principal, session)
    feeds = feeds_of(db)
    reader = feeds.updates(principal.organization_id, session, (found.revision, found.status))
    since = clock.now()
    feeds._on_resync(since)  # nothing changed: nothing to send
    assert await _changes(reader, 0.3) == []
    with hints_lost(db):
        await update_session(db, principal, session, {"prd": {"v": 2}})
        await update_session(db, principal, session, {"prd": {"v": 3}})
    feeds._on_resync(since)
    assert await _changes(reader, 0.3) == [("updated", session, found.revision + 2)]
    feeds._on_resync(since)  # the reader has that revision now
    assert await _changes(reader, 0.3) == []
    with hints_lost(db):
        await delete_session(db, principal, session)
    feeds._on_resync(since)
    assert await _changes(reader, 2) == [("deleted", session, None)]
    assert reader.finished
    reader.close()


async def test_one_session_gets_an_expiry_that_changed_no_revision(
    db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal, expires_at=clock.now() + timedelta(seconds=60))
    found = await get_session(db, principal, session)
    feeds = feeds_of(db)
    reader = feeds.updates(principal.organization_id, session, (found.revision, found.status))
    since = clock.now()
    with hints_lost(db):
        async with db.write() as conn:
            await conn.execute(
                sa.update(sessions)
                .where(sessions.c.id == session)
                .values(expires_at=clock.now() - timedelta(seconds=1))
            )
        assert await expire_due(db) >= 1  # other tests' sessions may expire too
    feeds._on_resync(since)
    assert await _changes(reader, 0.3) == [("expired", session, found.revision)]
    reader.close()


async def test_organisation_gets_creations_updates_expiries_and_deletions_in_order(
    db: Database, principal: Principal
) -> None:
    before_outage = await new_session(db, principal)  # unchanged during the outage
    updated = await new_session(db, principal)
    deleted = await new_session(db, principal)
    expiring = await new_session(db, principal, expires_at=clock.now() + timedelta(seconds=1))
    await _backdate(db, before_outage, updated, deleted, expiring)
    feeds = feeds_of(db)
    reader = feeds.updates(principal.organization_id, None)
    await asyncio.sleep(0.2)
    assert [kind for kind, *_ in await _changes(reader, 0.3)] == []
    since = clock.now()
    with hints_lost(db):
        created = await new_session(db, principal)
        await update_session(db, principal, updated, {"status": "generating"})
        await delete_session(db, principal, deleted)
        await asyncio.sleep(1.1)  # `expiring` is past its expiresAt; nobody swept it
    # Changes older than the outage (minus the clock allowance) are not sent again.
    feeds._on_resync(since)
    got = await _changes(reader, 0.5)
    assert got == [
        ("created", created, 1),
        ("updated", updated, 2),
        ("deleted", deleted, None),
        ("expired", expiring, 1),
    ]
    assert before_outage not in {sid for _, sid, _ in got}
    assert not reader.finished  # the organisation-wide stream goes on
    reader.close()


async def test_another_organisation_learns_nothing(db: Database, principal: Principal) -> None:
    other_principal, _ = await new_key(db)
    feeds = feeds_of(db)
    reader = feeds.updates(other_principal.organization_id, None)
    since = clock.now()
    with hints_lost(db):
        session = await new_session(db, principal)
        await delete_session(db, principal, session)
    feeds._on_resync(since)
    assert await _changes(reader, 0.3) == []
    reader.close()


async def test_deletions_leave_tombstones_that_are_forgotten_after_a_day(
    db: Database, principal: Principal
) -> None:
    by_hand = await new_session(db, principal)
    swept = await new_session(db, principal)
    async with db.write() as conn:
        await conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == swept)
            .values(expires_at=clock.now() - timedelta(days=40))
        )
    start = clock.now() - timedelta(seconds=1)
    await delete_session(db, principal, by_hand)
    assert await expire_due(db) >= 1
    assert await delete_expired(db, timedelta(days=30)) >= 1
    found = await tombstones.deleted_since(db, [principal.organization_id], start)
    assert {(sid, org) for sid, org, _ in found} >= {
        (by_hand, principal.organization_id),
        (swept, principal.organization_id),
    }
    assert await tombstones.forget_old(db, clock.now() + tombstones.TOMBSTONE_RETENTION / 2) == 0
    assert await tombstones.forget_old(db, clock.now() + tombstones.TOMBSTONE_RETENTION * 2) >= 2
    async with db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(session_tombstones)) == 0
