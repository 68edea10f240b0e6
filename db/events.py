"""Event operations: the append-only log and its gapless per-session sequence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock, validation
from db import status as status_rules
from db.errors import Conflict, InvalidInput, NotFound
from db.ids import EVENT_PREFIX, SESSION_PREFIX, is_well_formed, new_event_id
from db.live.bus import Hint
from db.metrics import EVENTS_APPENDED
from db.models import events, sessions
from db.records import EventRecord, Principal, SessionRecord
from db.store.appends import NewEvent
from db.store.engine import Database
from db.windows import EventWindow, check_page_size

EVENT_TYPES = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class EventPage:
    session: SessionRecord
    items: list[EventRecord]
    has_more: bool


async def append_event(
    db: Database,
    principal: Principal,
    session_id: str,
    *,
    type: str,
    stage: str | None = None,
    message: str | None = None,
    payload: dict[str, Any] | None = None,
    conn: AsyncConnection | None = None,
) -> EventRecord:
    """Number the event inside the transaction that stores it.

    Bumping `last_sequence` on the session row takes its write lock (a row lock on
    PostgreSQL, the database lock on SQLite), so concurrent appends get consecutive
    numbers in commit order, and the unique `(session_id, sequence)` index guards it.
    """
    if type not in EVENT_TYPES:
        raise InvalidInput("type must be one of " + ", ".join(EVENT_TYPES), field="type")
    row: dict[str, Any] = {
        "type": type,
        "stage": validation.label(stage, "stage"),
        "message": validation.label(message, "message", max_length=validation.MAX_MESSAGE_LENGTH),
        "payload": validation.json_object(payload, "payload"),
    }
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    now = clock.now()
    if conn is None:
        return await _append_lean(db, principal, session_id, row, now)
    async with db.write(within=conn) as writing:
        bumped = (
            await writing.execute(
                sessions.update()
                .where(
                    sessions.c.id == session_id,
                    sessions.c.organization_id == principal.organization_id,
                    sessions.c.status.in_(status_rules.LIVE),
                    sessions.c.expires_at > now,
                )
                .values(last_sequence=sessions.c.last_sequence + 1)
                .returning(sessions.c.last_sequence, sessions.c.organization_id)
            )
        ).first()
        if bumped is None:
            raise await _refusal(writing, principal, session_id, now)
        row.update(
            id=new_event_id(),
            session_id=session_id,
            sequence=bumped.last_sequence,
            organization_id=bumped.organization_id,
            user_id=principal.user_id,
            created_at=now,
        )
        await writing.execute(events.insert().values(row))
        db.announce(writing, Hint("events", session_id, row["organization_id"], row["sequence"]))
    EVENTS_APPENDED.inc()
    return EventRecord(**row)


async def _append_lean(
    db: Database, principal: Principal, session_id: str, row: dict[str, Any], now: datetime
) -> EventRecord:
    """The same append on the raw driver (`db.store.appends`): one statement on PostgreSQL,
    group commit on SQLite. Used when no caller's transaction (idempotency claim) is joined."""
    event = NewEvent(
        id=new_event_id(),
        session_id=session_id,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        created_at=now,
        **row,
    )
    numbered = await db.appends.append(event)
    if numbered is None:
        async with db.read() as conn:
            raise await _refusal(conn, principal, session_id, now)
    sequence, organization_id = numbered
    db.bus.publish(Hint("events", session_id, organization_id, sequence))
    EVENTS_APPENDED.inc()
    return EventRecord(
        id=event.id,
        session_id=session_id,
        sequence=sequence,
        organization_id=organization_id,
        user_id=event.user_id,
        type=event.type,
        stage=event.stage,
        message=event.message,
        payload=event.payload,
        created_at=now,
    )


async def _refusal(
    conn: AsyncConnection, principal: Principal, session_id: str, now: datetime
) -> NotFound | Conflict:
    """Why the append matched no row: a missing session, or one that no longer takes events."""
    found = (
        await conn.execute(
            sa.select(sessions.c.status, sessions.c.expires_at).where(
                sessions.c.id == session_id,
                sessions.c.organization_id == principal.organization_id,
            )
        )
    ).first()
    if found is None:
        return NotFound(f"session {session_id} not found")
    status = status_rules.effective(found.status, clock.as_utc(found.expires_at), now)
    return Conflict(f"session is {status}; events cannot be appended to a {status} session")


async def _session_in(
    conn: AsyncConnection, principal: Principal, session_id: str
) -> SessionRecord:
    """The caller's session, read on `conn` so what follows shares its snapshot."""
    row = (
        await conn.execute(
            sa.select(sessions).where(
                sessions.c.id == session_id,
                sessions.c.organization_id == principal.organization_id,
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"session {session_id} not found")
    return SessionRecord.from_row(row, clock.now())


async def list_events(
    db: Database,
    principal: Principal,
    session_id: str,
    *,
    after: int = 0,
    limit: int | None = 100,
) -> EventPage:
    """Events with a sequence above `after`, in order; `limit=None` means all of them."""
    if limit is not None:
        check_page_size(limit, "limit")
    if after < 0:
        raise InvalidInput("after must be 0 or a positive sequence", field="after")
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    async with db.read() as conn:
        session = await _session_in(conn, principal, session_id)
        query = (
            sa.select(events)
            .where(events.c.session_id == session_id, events.c.sequence > after)
            .order_by(events.c.sequence)
        )
        if limit is not None:
            query = query.limit(limit + 1)
        rows = (await conn.execute(query)).all()
    kept = rows if limit is None else rows[:limit]
    has_more = limit is not None and len(rows) > limit
    return EventPage(
        session=session, items=[EventRecord.from_row(r) for r in kept], has_more=has_more
    )


async def events_in_windows(
    db: Database, windows: Sequence[tuple[str, EventWindow]]
) -> dict[tuple[str, EventWindow], list[EventRecord]]:
    """One statement for many (session, window) pairs: the DataLoader's batch.

    Callers pass sessions they already resolved for the principal, so scope is settled.
    """
    wanted = [
        sa.and_(events.c.session_id == session_id, events.c.sequence.between(w.low, w.high))
        for session_id, w in set(windows)
        if not w.is_empty
    ]
    found: dict[tuple[str, int], EventRecord] = {}
    if wanted:
        async with db.read() as conn:
            for row in await conn.execute(sa.select(events).where(sa.or_(*wanted))):
                found[(row.session_id, row.sequence)] = EventRecord.from_row(row)
    result: dict[tuple[str, EventWindow], list[EventRecord]] = {}
    for session_id, window in windows:
        result[(session_id, window)] = [
            found[(session_id, seq)]
            for seq in range(window.low, window.high + 1)
            if (session_id, seq) in found
        ]
    return result


async def find_event(db: Database, principal: Principal, event_id: str) -> EventRecord | None:
    """An event by id, within the caller's organisation (for `Query.node`)."""
    if not is_well_formed(event_id, EVENT_PREFIX):
        return None
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(events).where(
                    events.c.id == event_id,
                    events.c.organization_id == principal.organization_id,
                )
            )
        ).first()
    return EventRecord.from_row(row) if row is not None else None
