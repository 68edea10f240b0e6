"""The expiry sweep stores `expired`, announces it once, and deletes after the retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from db import clock
from db.live.bus import Hint
from db.live.expiry import delete_expired, expire_due
from db.models import events, sessions
from db.records import Principal
from db.sessions import get_session
from db.store.engine import Database
from tests.support.sessions import append, new_session

pytestmark = pytest.mark.timeout(60)


async def _stored_status(db: Database, session_id: str) -> str | None:
    async with db.read() as conn:
        result: str | None = await conn.scalar(
            sa.select(sessions.c.status).where(sessions.c.id == session_id)
        )
        return result


async def test_sweep_persists_announces_and_later_deletes(
    db: Database, principal: Principal
) -> None:
    # Set-up (two creates with that expiry, two appends) must fit before `soon` even on a
    # loaded machine, and the first append may open a connection pool.
    soon = clock.now() + timedelta(seconds=2)
    due = await new_session(db, principal, expires_at=soon)
    finished = await new_session(db, principal, status="completed", expires_at=soon)
    await append(db, principal, due, 2)
    live = await new_session(db, principal)
    heard: list[Hint] = []
    db.bus.add_listener(heard.append)
    later = clock.now() + timedelta(seconds=3)
    before = await get_session(db, principal, due)
    assert await expire_due(db, later) >= 1
    assert await _stored_status(db, due) == "expired"
    assert await _stored_status(db, live) == "pending"
    assert await _stored_status(db, finished) == "completed"
    after = await get_session(db, principal, due)
    assert (after.status, after.updated_at, after.etag) == (
        "expired",
        before.updated_at,
        before.etag,
    )
    await expire_due(db, later)  # a second sweep claims nothing of it again
    assert [h for h in heard if h.session_id == due] == [
        Hint("expired", due, principal.organization_id)
    ]
    # Retention: kept for now, deleted (with its log) once it has passed.
    await delete_expired(db, timedelta(days=1), later)
    assert await _stored_status(db, due) == "expired"
    await delete_expired(db, timedelta(seconds=0), later)
    assert await _stored_status(db, due) is None
    async with db.read() as conn:
        left = await conn.scalar(
            sa.select(sa.func.count()).select_from(events).where(events.c.session_id == due)
        )
    assert left == 0
    assert Hint("deleted", due, principal.organization_id) in heard
    assert await _stored_status(db, finished) == "completed"  # only expired sessions go
