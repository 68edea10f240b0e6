"""Event rules: the append-only log and its gapless per-session sequence."""

from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from db import clock, validation
from db.errors import Conflict, InvalidInput, NotFound
from db.ids import EVENT_PREFIX, SESSION_PREFIX, is_well_formed, new_event_id
from db.live.bus import Hint
from db.records import EventRecord, Principal
from db.store import appends as store
from db.store import sessions as session_store
from db.store.engine import Database, Transaction
from db.windows import EventWindow

EVENT_TYPES = ("debug", "info", "warning", "error")
EVENTS_APPENDED = Counter("sessiongraph_events_appended_total", "Events committed to session logs.")


async def append_event(
    db: Database,
    principal: Principal,
    session_id: str,
    *,
    type: str,
    stage: str | None = None,
    message: str | None = None,
    payload: dict[str, Any] | None = None,
    conn: Transaction | None = None,
) -> EventRecord:
    """Numbered in the transaction that stores it: on the raw driver, or within `conn`."""
    if type not in EVENT_TYPES:
        raise InvalidInput("type must be one of " + ", ".join(EVENT_TYPES), field="type")
    event: dict[str, Any] = {
        "type": type,
        "stage": validation.label(stage, "stage"),
        "message": validation.label(message, "message", max_length=validation.MAX_MESSAGE_LENGTH),
        "payload": validation.json_object(payload, "payload"),
        "id": new_event_id(),
        "session_id": session_id,
        "organization_id": principal.organization_id,
        "user_id": principal.user_id,
        "created_at": clock.now(),
    }
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    appending = db.appends.append(event) if conn is None else store.append_within(conn, event)
    numbered = await appending
    if numbered is None:
        async with db.read() if conn is None else db.write(within=conn) as reading:
            found = await session_store.find(reading, principal.organization_id, session_id)
        if found is None:
            raise NotFound(f"session {session_id} not found")
        status = found.status
        raise Conflict(f"session is {status}; events cannot be appended to a {status} session")
    sequence, organization_id = numbered
    hint = Hint("events", session_id, organization_id, sequence)
    if conn is None:
        db.bus.publish(hint)
    else:
        db.announce(conn, hint)
    EVENTS_APPENDED.inc()
    return EventRecord(**event | {"sequence": sequence, "organization_id": organization_id})


async def events_in_windows(
    db: Database, windows: Sequence[tuple[str, EventWindow]]
) -> dict[tuple[str, EventWindow], list[EventRecord]]:
    """One statement for a DataLoader's (session, window) pairs, of sessions already in scope."""
    ranges = {(sid, w.low, w.high) for sid, w in windows if not w.is_empty}
    found: dict[tuple[str, int], EventRecord] = {}
    if ranges:
        async with db.read() as conn:
            for record in await store.in_ranges(conn, ranges):
                found[(record.session_id, record.sequence)] = record
    return {
        (sid, w): [found[(sid, seq)] for seq in range(w.low, w.high + 1) if (sid, seq) in found]
        for sid, w in windows
    }


async def find_event(db: Database, principal: Principal, event_id: str) -> EventRecord | None:
    if not is_well_formed(event_id, EVENT_PREFIX):
        return None
    async with db.read() as conn:
        return await store.find(conn, principal.organization_id, event_id)
