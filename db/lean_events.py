"""A session and its whole log on the raw driver: the REST `GET /sessions/:id` read.

Two indexed statements on `LeanReader` (the row, then the log up to the row's
`last_sequence`), each in autocommit, instead of a SQLAlchemy read transaction: the
transaction, pool checkout and per-row processing cost more than the statements.

Two autocommit statements need no shared snapshot here. An event commits with the bump
that numbered it, so every sequence up to the row's `last_sequence` exists by the time
the row is read, and later appends fall outside the range. Events are removed only with
their session, so a log shorter than `last_sequence` means the session was deleted
between the two statements: it is answered as not found, as if the delete came first.
"""

from __future__ import annotations

from datetime import datetime

from db import hot_reads
from db.lean import LeanReader
from db.records import EventRecord, SessionRecord

LOG_UP_TO = (
    f"SELECT {hot_reads.EVENT_COLUMNS} FROM events"
    " WHERE session_id = ? AND sequence BETWEEN 1 AND ? ORDER BY sequence"
)


async def session_with_log(
    reader: LeanReader, organization_id: str, session_id: str, now: datetime
) -> tuple[SessionRecord, list[EventRecord]] | None:
    """The organisation's session and its events 1..last_sequence, or None if it has none."""
    session = await hot_reads.session_by_id(reader, organization_id, session_id, now)
    if session is None:
        return None
    if session.last_sequence == 0:
        return session, []
    rows = await reader.fetch(LOG_UP_TO, (session_id, session.last_sequence))
    if len(rows) != session.last_sequence:
        return None  # deleted between the two statements
    return session, [hot_reads.event_record(reader, row) for row in rows]
