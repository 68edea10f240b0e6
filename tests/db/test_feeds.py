"""Shared fan-out: one read per hint for any number of readers; replay is the live path."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from db import clock
from db.live.feeds import HIGH_WATER, EventReader, SessionDeleted, feeds_of
from db.records import Principal
from db.sessions import delete_session, update_session
from db.store.engine import Database
from tests.support.feeds import feed_stats
from tests.support.sessions import append, new_session

pytestmark = pytest.mark.timeout(60)


async def _take(reader: EventReader, count: int) -> list[int]:
    async with asyncio.timeout(10):
        return [(await anext(reader)).sequence for _ in range(count)]


async def test_one_read_per_hint_whatever_the_number_of_readers(
    db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    feeds = feeds_of(db)
    readers = [feeds.events(session, 0) for _ in range(50)]
    await asyncio.sleep(0.05)
    before = feeds.reads
    for sequence in range(1, 11):
        await append(db, principal, session)
        for reader in readers:
            assert await _take(reader, 1) == [sequence]
    assert feeds.reads - before == 10
    for reader in readers:
        reader.close()
    assert feed_stats(feeds) == {
        "feeds": 0,
        "event_readers": 0,
        "update_readers": 0,
        "feed_tasks": 0,
    }


async def test_replay_and_live_readers_share_the_feed(db: Database, principal: Principal) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 5)
    feeds = feeds_of(db)
    live = feeds.events(session, 5)
    behind = feeds.events(session, 0)
    middle = feeds.events(session, 3)
    await append(db, principal, session, 2)
    assert await _take(live, 2) == [6, 7]
    assert await _take(behind, 7) == [1, 2, 3, 4, 5, 6, 7]
    assert await _take(middle, 4) == [4, 5, 6, 7]
    await update_session(db, principal, session, {"status": "completed"})
    for reader in (live, behind, middle):
        assert [e async for e in reader] == []  # completes: terminal, nothing more to come
        reader.close()


async def test_a_slow_reader_is_paused_then_catches_up_from_the_database(
    db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    total = HIGH_WATER + 700
    await append(db, principal, session, total)
    reader = feeds_of(db).events(session, 0)
    await asyncio.sleep(0.3)
    assert reader.paused and reader.position < total
    assert await _take(reader, total) == list(range(1, total + 1))
    reader.close()


async def test_deletion_ends_readers_with_the_cause(db: Database, principal: Principal) -> None:
    session = await new_session(db, principal)
    reader = feeds_of(db).events(session, 0)
    await delete_session(db, principal, session)
    with pytest.raises(SessionDeleted, match=f"session {session} was deleted"):
        await _take(reader, 1)
    reader.close()


async def test_expiry_completes_readers_without_any_write(
    db: Database, principal: Principal
) -> None:
    expires = clock.now() + timedelta(milliseconds=400)
    session = await new_session(db, principal, expires_at=expires)
    await append(db, principal, session, 1)
    reader = feeds_of(db).events(session, 0)
    async with asyncio.timeout(10):
        assert [e.sequence async for e in reader] == [1]
    reader.close()


async def test_a_lost_hint_costs_latency_not_data(db: Database, principal: Principal) -> None:
    session = await new_session(db, principal)
    feeds = feeds_of(db)
    reader = feeds.events(session, 0)
    listeners = db.bus._listeners
    saved = list(listeners)
    listeners.clear()  # hints now go nowhere
    try:
        await append(db, principal, session, 3)
    finally:
        listeners.extend(saved)
    feeds._on_resync(clock.now())  # what a reconnecting bus does
    assert await _take(reader, 3) == [1, 2, 3]
    reader.close()


async def test_a_degraded_bus_polls_events_and_updates_each_once(
    database_url: str, principal: Principal
) -> None:
    """Broker unreachable from the start, writes from another process (whose hints never
    arrive): every poll reads after each reader's position, so events come exactly once,
    and organisation-wide catch-ups skip what the reader already has."""
    reading = Database(database_url, bus_url="redis://127.0.0.1:1/0", bus_poll_seconds=0.1)
    writing = Database(database_url)  # another process: its own bus
    try:
        await reading.bus.start()
        assert reading.bus.state == "degraded (polling)"
        feeds = feeds_of(reading)
        session = await new_session(writing, principal)
        events = feeds.events(session, 0)
        updates = feeds.updates(principal.organization_id, None)
        everything = []
        for round_ in range(1, 4):
            await append(writing, principal, session, 5)
            await update_session(writing, principal, session, {"prd": {"v": round_}})
            assert await _take(events, 5) == list(range(5 * round_ - 4, 5 * round_ + 1))
            await asyncio.sleep(0.5)  # several polls, each seeing the same recent changes
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3):
                while True:
                    change = await anext(updates)
                    everything.append((change.session_id, change.session.revision))
        revisions = [revision for sid, revision in everything if sid == session]
        assert revisions == sorted(set(revisions)) and revisions[-1] == 4
    finally:
        await reading.bus.stop()
        await asyncio.sleep(0.3)  # reads a poll started finish before the readers go
        feeds_of(reading).close()
        await reading.dispose()
        await writing.dispose()
