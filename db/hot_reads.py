"""The SQL of the hottest reads, run through `LeanReader` and mapped straight to records.

Each function here is the lean twin of a query in keys.py, sessions.py or events.py;
those modules call these, so the rules (tenant scope, expiry, windows) stay in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from db import status as status_rules
from db.lean import LeanReader
from db.records import EventRecord, Plan, Principal, SessionRecord

SESSION_COLUMN_NAMES = (
    "id",
    "organization_id",
    "user_id",
    "status",
    "assembly_state",
    "catalog_version",
    "plan",
    "prd",
    "product_object",
    "product_object_hash",
    "schema_version",
    "created_at",
    "updated_at",
    "expires_at",
    "last_sequence",
    "revision",
)
SESSION_COLUMNS = ", ".join(SESSION_COLUMN_NAMES)
# What a page of sessions may leave out when its reader shows none of it: the JSON and
# descriptive columns, `assembly_state` to `schema_version` (the others are small, and
# rules and cursors need them).
OPTIONAL_SESSION_COLUMNS = frozenset(SESSION_COLUMN_NAMES[4:11])
EVENT_FIELDS = (
    "id",
    "session_id",
    "sequence",
    "organization_id",
    "user_id",
    "type",
    "stage",
    "message",
    "payload",
    "created_at",
)
EVENT_COLUMNS = ", ".join(EVENT_FIELDS)
AUTHENTICATE = (
    "SELECT k.id, k.organization_id, k.user_id, o.plan_name, o.max_sessions,"
    " o.max_requests_per_minute FROM api_keys k JOIN organizations o"
    " ON o.id = k.organization_id WHERE k.key_hash = ? AND k.revoked_at IS NULL"
)
SESSION_BY_ID = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ? AND organization_id = ?"


def session_record(reader: LeanReader, row: Any, now: datetime) -> SessionRecord:
    time, json = reader.time, reader.json
    expires_at = time(row[13])
    return SessionRecord(
        id=row[0],
        organization_id=row[1],
        user_id=row[2],
        status=status_rules.effective(row[3], expires_at, now),
        assembly_state=json(row[4]),
        catalog_version=row[5],
        plan=json(row[6]),
        prd=json(row[7]),
        product_object=json(row[8]),
        product_object_hash=row[9],
        schema_version=row[10],
        created_at=time(row[11]),
        updated_at=time(row[12]),
        expires_at=expires_at,
        last_sequence=row[14],
        revision=row[15],
    )


def event_record(reader: LeanReader, row: Any) -> EventRecord:
    """`EVENT_COLUMNS` are in `EventRecord`'s field order: positional arguments cost less."""
    r = row
    return EventRecord(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], reader.json(r[8]), reader.time(r[9])
    )


async def principal_for_hash(reader: LeanReader, key_hash: str) -> Principal | None:
    rows = await reader.fetch(AUTHENTICATE, (key_hash,))
    if not rows:
        return None
    row = rows[0]
    return Principal(
        key_id=row[0], organization_id=row[1], user_id=row[2], plan=Plan(row[3], row[4], row[5])
    )


async def session_by_id(
    reader: LeanReader, organization_id: str, session_id: str, now: datetime
) -> SessionRecord | None:
    rows = await reader.fetch(SESSION_BY_ID, (session_id, organization_id))
    return session_record(reader, rows[0], now) if rows else None


async def session_page(
    reader: LeanReader,
    organization_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    user_id: str | None,
    newest_first: bool,
    now: datetime,
    leave_out: frozenset[str] = frozenset(),
) -> list[SessionRecord]:
    """Up to `limit` rows after the keyset cursor, in (createdAt, id) order.

    Columns in `leave_out` (some of `OPTIONAL_SESSION_COLUMNS`) are read as NULL: their
    fields are None in the records, for a reader that shows none of them.
    """
    conditions = ["organization_id = ?"]
    args: list[Any] = [organization_id]
    if user_id is not None:
        conditions.append("user_id = ?")
        args.append(user_id)
    if after is not None:
        created_at, last_id = after
        stamp = reader.bind_time(created_at)
        # A row value, not `a < x OR (a = x AND b < y)`: both databases then seek the
        # (organization_id, created_at, id) index instead of scanning the rows before it.
        op = "<" if newest_first else ">"
        conditions.append(f"(created_at, id) {op} (?, ?)")
        args += [stamp, last_id]
    direction = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT {_session_columns(leave_out)} FROM sessions WHERE {' AND '.join(conditions)}"
        f" ORDER BY created_at {direction}, id {direction} LIMIT ?"
    )
    rows = await reader.fetch(sql, (*args, limit))
    return [session_record(reader, row, now) for row in rows]


@cache
def _session_columns(leave_out: frozenset[str]) -> str:
    if not leave_out <= OPTIONAL_SESSION_COLUMNS:
        raise ValueError(f"not optional: {sorted(leave_out - OPTIONAL_SESSION_COLUMNS)}")
    return ", ".join("NULL" if name in leave_out else name for name in SESSION_COLUMN_NAMES)


async def events_in_ranges(
    reader: LeanReader, ranges: dict[tuple[int, int], list[str]]
) -> list[EventRecord]:
    """Events of many sessions, one sequence range per group of sessions, in one statement."""
    sql, args = _events_sql(EVENT_COLUMNS, ranges)
    json, time = reader.json, reader.time
    # `event_record` inlined: this loop runs for every event of every page.
    return [
        EventRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json(r[8]), time(r[9]))
        for r in await reader.fetch(sql, args)
    ]


def _events_sql(columns: str, ranges: dict[tuple[int, int], list[str]]) -> tuple[str, list[Any]]:
    clauses = []
    args: list[Any] = []
    for (low, high), ids in ranges.items():
        marks = ", ".join("?" * len(ids))
        clauses.append(f"(session_id IN ({marks}) AND sequence BETWEEN ? AND ?)")
        args += [*ids, low, high]
    sql = f"SELECT {columns} FROM events WHERE {' OR '.join(clauses)} ORDER BY session_id, sequence"
    return sql, args


def sequence_ranges(windows: Sequence[tuple[str, Any]]) -> dict[tuple[int, int], list[str]]:
    ranges: dict[tuple[int, int], list[str]] = {}
    for session_id, window in windows:
        if not window.is_empty:
            ranges.setdefault((window.low, window.high), []).append(session_id)
    return ranges
