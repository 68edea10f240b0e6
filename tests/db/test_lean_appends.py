"""Appends on the raw driver: one statement on PostgreSQL, group commit on SQLite.

Whatever the batching, sequences stay gapless per session, every caller gets its own
number back, a refused or failing append fails alone, and hints follow the commit.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from db import clock
from db import sessions as session_ops
from db.errors import Conflict, NotFound
from db.events import append_event
from db.live.bus import Hint
from db.records import Principal
from db.store.appends import NewEvent
from db.store.engine import Database
from tests.support.sessions import session_and_log
from tests.support.statements import count_statements


async def test_concurrent_appends_are_gapless_and_grouped(
    db: Database, principal: Principal, backend: str
) -> None:
    ids = [(await session_ops.create_session(db, principal, {})).id for _ in range(3)]
    hints: list[Hint] = []
    remove = db.bus.add_listener(hints.append)
    try:
        records = await asyncio.gather(
            *(
                append_event(db, principal, ids[i % 3], type="info", message=str(i))
                for i in range(48)
            )
        )
    finally:
        remove()
    for session_id in ids:
        mine = [r for r in records if r.session_id == session_id]
        assert sorted(r.sequence for r in mine) == list(range(1, 17))
        _, stored = await session_and_log(db, principal, session_id)
        assert sorted(stored, key=lambda e: e.id) == sorted(mine, key=lambda e: e.id)
    assert sorted((h.session_id, h.sequence) for h in hints) == sorted(
        (r.session_id, r.sequence) for r in records
    )
    if backend == "sqlite":
        # 48 appends queued at once: far fewer transactions (fsyncs) than appends.
        assert db.appends.batches < 48


async def test_refused_appends_fail_alone_within_a_batch(
    db: Database, principal: Principal
) -> None:
    live = await session_ops.create_session(db, principal, {})
    done = await session_ops.create_session(db, principal, {"status": "completed"})
    outcomes = await asyncio.gather(
        append_event(db, principal, live.id, type="info"),
        append_event(db, principal, done.id, type="info"),
        append_event(db, principal, "sess_0000000000000000", type="info"),
        append_event(db, principal, live.id, type="info"),
        return_exceptions=True,
    )
    assert [type(o).__name__ for o in outcomes] == [
        "EventRecord",
        "Conflict",
        "NotFound",
        "EventRecord",
    ]
    assert isinstance(outcomes[1], Conflict) and isinstance(outcomes[2], NotFound)
    _, stored = await session_and_log(db, principal, live.id)
    assert [e.sequence for e in stored] == [1, 2]


async def test_a_failing_append_fails_alone_and_leaves_no_gap(
    db: Database, principal: Principal
) -> None:
    """Two events with one id in a batch: the batch rolls back, each is retried alone."""
    session = await session_ops.create_session(db, principal, {})

    def event(event_id: str) -> NewEvent:
        return NewEvent(
            id=event_id,
            session_id=session.id,
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            type="info",
            stage=None,
            message=None,
            payload={"k": [1, "two", None]},
            created_at=clock.now(),
        )

    outcomes = await asyncio.gather(
        db.appends.append(event("evt_00000000000000aa")),
        db.appends.append(event("evt_00000000000000aa")),
        db.appends.append(event("evt_00000000000000bb")),
        return_exceptions=True,
    )
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and "unique" in str(failed[0]).lower()
    assert outcomes[2] in ((1, principal.organization_id), (2, principal.organization_id))
    _, stored = await session_and_log(db, principal, session.id)
    assert [e.sequence for e in stored] == [1, 2]
    assert sorted(e.id for e in stored) == ["evt_00000000000000aa", "evt_00000000000000bb"]
    assert all(e.payload == {"k": [1, "two", None]} for e in stored)
    assert (await session_ops.get_session(db, principal, session.id)).last_sequence == 2


async def test_statements_per_append(db: Database, principal: Principal, backend: str) -> None:
    session = await session_ops.create_session(db, principal, {})
    with count_statements(db) as counter:
        await append_event(db, principal, session.id, type="info", payload={"a": 1})
    # PostgreSQL: one data-modifying statement; SQLite: the bump and the insert.
    assert counter.count == (1 if backend == "postgresql" else 2)


async def test_appends_and_other_writes_take_turns(db: Database, principal: Principal) -> None:
    """The appender and SQLAlchemy's writer interleave without lock errors on SQLite."""
    session = await session_ops.create_session(db, principal, {})

    async def other_writes() -> None:
        for _ in range(10):
            await session_ops.create_session(db, principal, {})

    results = await asyncio.gather(
        other_writes(),
        *(append_event(db, principal, session.id, type="debug") for _ in range(30)),
    )
    assert sorted(Counter(r.sequence for r in results[1:])) == list(range(1, 31))


@pytest.mark.parametrize("status", ["failed", "cancelled"])
async def test_terminal_sessions_refuse(db: Database, principal: Principal, status: str) -> None:
    session = await session_ops.create_session(db, principal, {"status": status})
    with pytest.raises(Conflict, match=f"session is {status}"):
        await append_event(db, principal, session.id, type="info")
