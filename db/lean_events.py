"""A session and its whole log on the raw driver: the REST `GET /sessions/:id` read.

On `LeanReader` instead of a SQLAlchemy read transaction: the transaction, pool checkout
and per-row processing cost more than the statements. On SQLite one statement returns the
row and its log (a `UNION ALL`, so one snapshot and one trip to the driver's thread); on
PostgreSQL two indexed statements (the row, then the log up to its `last_sequence`), each
in autocommit.

Two autocommit statements need no shared snapshot here. An event commits with the bump
that numbered it, so every sequence up to the row's `last_sequence` exists by the time
the row is read, and later appends fall outside the range. Events are removed only with
their session, so a log shorter than `last_sequence` means the session was deleted
between the two statements: it is answered as not found, as if the delete came first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db import hot_reads
from db.lean import LeanReader
from db.records import EventRecord, SessionRecord

LOG_UP_TO = (
    f"SELECT {hot_reads.EVENT_COLUMNS} FROM events"
    " WHERE session_id = ? AND sequence BETWEEN 1 AND ? ORDER BY sequence"
)


# SQLite: the row and its log in one statement (one snapshot, one trip to the driver's
# thread). The first column orders the result: 0 for the session, the sequence for events;
# event rows are padded with NULLs to the session's width.
_SQLITE_ROW_AND_LOG = (
    f"SELECT 0, {hot_reads.SESSION_COLUMNS} FROM sessions WHERE id = ?1 AND organization_id = ?2"
    f" UNION ALL SELECT sequence, {hot_reads.EVENT_COLUMNS}, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM events WHERE session_id = ?1 AND sequence BETWEEN 1 AND"
    " (SELECT last_sequence FROM sessions WHERE id = ?1 AND organization_id = ?2)"
    " ORDER BY 1"
)


async def _sqlite_session_and_rows(
    reader: LeanReader, organization_id: str, session_id: str, now: datetime
) -> tuple[SessionRecord, list[Any]] | None:
    rows = await reader.fetch(_SQLITE_ROW_AND_LOG, (session_id, organization_id))
    if not rows or rows[0][0] != 0:
        return None
    session = hot_reads.session_record(reader, rows[0][1:], now)
    return session, [row[1:11] for row in rows[1:]]


async def _session_and_rows(
    reader: LeanReader, organization_id: str, session_id: str, now: datetime
) -> tuple[SessionRecord, list[Any]] | None:
    if reader.is_sqlite:
        return await _sqlite_session_and_rows(reader, organization_id, session_id, now)
    session = await hot_reads.session_by_id(reader, organization_id, session_id, now)
    if session is None:
        return None
    if session.last_sequence == 0:
        return session, []
    rows = await reader.fetch(LOG_UP_TO, (session_id, session.last_sequence))
    if len(rows) != session.last_sequence:
        return None  # deleted between the two statements
    return session, rows


async def session_with_events(
    reader: LeanReader, organization_id: str, session_id: str, now: datetime
) -> tuple[SessionRecord, list[EventRecord]] | None:
    """The organisation's session and its events 1..last_sequence, or None if it has none."""
    found = await _session_and_rows(reader, organization_id, session_id, now)
    if found is None:
        return None
    session, rows = found
    return session, [hot_reads.event_record(reader, row) for row in rows]
