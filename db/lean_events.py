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

from datetime import UTC, datetime
from typing import Any, NamedTuple

from db import hot_reads
from db.clock import to_rfc3339
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


class LogEntry(NamedTuple):
    """An event as stored, its time already RFC 3339 text: what a response body needs.

    A tuple straight from the row, where an `EventRecord` would parse the time into a
    `datetime` only for the body to format it back (most of the read's CPU time).
    """

    id: str
    session_id: str
    sequence: int
    organization_id: str | None
    user_id: str
    type: str
    stage: str | None
    message: str | None
    payload: dict[str, Any] | None
    created_at: str


def stored_time_text(reader: LeanReader, value: Any) -> str:
    """`to_rfc3339` of a stored timestamp, without a `datetime` where the text allows.

    SQLite holds SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` in UTC: cutting it to
    milliseconds is exactly what `to_rfc3339` prints. asyncpg gives aware UTC datetimes,
    which the C `isoformat` prints the same way.
    """
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[0] != "0":
            return f"{value[:10]}T{value[11:23]}Z"
    elif value.tzinfo is UTC and value.year >= 1000:
        text: str = value.isoformat(timespec="milliseconds")
        return text[:-6] + "Z"
    return to_rfc3339(reader.time(value))


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


async def session_with_log(
    reader: LeanReader, organization_id: str, session_id: str, now: datetime
) -> tuple[SessionRecord, list[LogEntry]] | None:
    """`session_with_events` with the events as `LogEntry` tuples."""
    found = await _session_and_rows(reader, organization_id, session_id, now)
    if found is None:
        return None
    session, rows = found
    json, text = reader.json, stored_time_text
    # Columns in hot_reads.EVENT_COLUMNS order, which LogEntry follows.
    return session, [
        LogEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json(r[8]), text(reader, r[9]))
        for r in rows
    ]
