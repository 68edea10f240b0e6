"""The event log on both databases: gapless sequences, immutability of terminal sessions."""

from __future__ import annotations

import asyncio

import pytest

from db import sessions as session_ops
from db.cursors import decode_event_cursor
from db.errors import Conflict, InvalidInput, NotFound
from db.events import append_event, events_in_windows, find_event
from db.records import Principal
from db.store.engine import Database
from db.windows import event_window
from tests.conftest import new_key
from tests.support.sessions import session_and_log


async def test_append_numbers_and_copies_owner(db: Database, principal: Principal) -> None:
    session = await session_ops.create_session(db, principal, {})
    first = await append_event(
        db, principal, session.id, type="info", stage="generating", message="go", payload={"a": 1}
    )
    second = await append_event(db, principal, session.id, type="error")
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.id.startswith("evt_") and first.id != second.id
    assert (first.organization_id, first.user_id) == (principal.organization_id, principal.user_id)
    record = await session_ops.get_session(db, principal, session.id)
    window = event_window(record.event_count)
    found = await events_in_windows(db, [(session.id, window)])
    assert found[(session.id, window)] == [first, second] and not window.has_next_page
    assert record.event_count == 2
    assert await find_event(db, principal, first.id) == first


async def test_event_pages_after_a_sequence(db: Database, principal: Principal) -> None:
    session = await session_ops.create_session(db, principal, {})
    for _ in range(7):
        await append_event(db, principal, session.id, type="debug")
    last = (await session_ops.get_session(db, principal, session.id)).event_count
    page, rest = event_window(last, first=3, after=2), event_window(last, first=3, after=5)
    found = await events_in_windows(db, [(session.id, page), (session.id, rest)])
    assert [e.sequence for e in found[(session.id, page)]] == [3, 4, 5] and page.has_next_page
    assert [e.sequence for e in found[(session.id, rest)]] == [6, 7] and not rest.has_next_page
    _, everything = await session_and_log(db, principal, session.id)
    assert [e.sequence for e in everything] == list(range(1, 8))
    with pytest.raises(InvalidInput):
        decode_event_cursor("-1", field="after")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "fatal"}, "type"),
        ({"type": "info", "payload": [1]}, "payload"),
        ({"type": "info", "stage": ""}, "stage"),
        ({"type": "info", "message": "x" * 65_537}, "message"),
    ],
)
async def test_bad_events_are_refused(
    db: Database, principal: Principal, fields: dict[str, object], field: str
) -> None:
    session = await session_ops.create_session(db, principal, {})
    with pytest.raises(InvalidInput) as caught:
        await append_event(db, principal, session.id, **fields)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert (await session_ops.get_session(db, principal, session.id)).event_count == 0


@pytest.mark.parametrize("terminal", ["completed", "failed", "cancelled"])
async def test_terminal_sessions_take_no_events(
    db: Database, principal: Principal, terminal: str
) -> None:
    session = await session_ops.create_session(db, principal, {"status": "generating"})
    await append_event(db, principal, session.id, type="info")
    await session_ops.update_session(db, principal, session.id, {"status": terminal})
    with pytest.raises(Conflict):
        await append_event(db, principal, session.id, type="info")
    assert (await session_ops.get_session(db, principal, session.id)).event_count == 1


async def test_other_organisation_cannot_append_or_read(db: Database, principal: Principal) -> None:
    session = await session_ops.create_session(db, principal, {})
    event = await append_event(db, principal, session.id, type="info")
    other, _ = await new_key(db)
    with pytest.raises(NotFound):
        await append_event(db, other, session.id, type="info")
    with pytest.raises(NotFound):
        await session_ops.get_session(db, other, session.id)
    assert await find_event(db, other, event.id) is None
    assert (await session_ops.get_session(db, principal, session.id)).event_count == 1


async def test_200_concurrent_appends_are_gapless(db: Database, principal: Principal) -> None:
    session = await session_ops.create_session(db, principal, {})
    made = await asyncio.gather(
        *(append_event(db, principal, session.id, type="info", message=str(i)) for i in range(200))
    )
    assert sorted(e.sequence for e in made) == list(range(1, 201))
    _, stored = await session_and_log(db, principal, session.id)
    assert [e.sequence for e in stored] == list(range(1, 201))
    assert {e.message for e in stored} == {str(i) for i in range(200)}


async def test_windows_batch_many_sessions(db: Database, principal: Principal) -> None:
    ids = []
    for count in (0, 3, 5):
        session = await session_ops.create_session(db, principal, {})
        for _ in range(count):
            await append_event(db, principal, session.id, type="info")
        ids.append((session.id, count))
    keys = [(sid, event_window(count, first=2, after=1)) for sid, count in ids]
    found = await events_in_windows(db, keys)
    assert [[e.sequence for e in found[k]] for k in keys] == [[], [2, 3], [2, 3]]
