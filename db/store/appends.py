"""The statements on events. Appends run on the raw driver (SQLAlchemy's asyncio layer cost
more than the statements): bump the session's `last_sequence`, store the event under it.
PostgreSQL: one data-modifying CTE in autocommit, whose UPDATE locks the session row.
SQLite: one writer thread batches concurrent appends into one `BEGIN IMMEDIATE` (one fsync),
under `Database.sqlite_writer_turn`; a broken constraint retries each append alone, so it
fails only its own request, while a failing database (locked, I/O) fails the batch."""

import asyncio
import re
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from datetime import UTC
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.fields import EVENT_FIELDS
from db.models import JsonObject, Timestamp, events
from db.records import EventRecord
from db.status import LIVE_SQL
from db.store.driver import LeanReader

MAX_BATCH = 64
_COLUMNS = [f.column for f in EVENT_FIELDS]
# Values by column; BUMP supplies `sequence` and `organization_id` (read as the caller's).
NewEvent = dict[str, Any]
BUMP = (
    "UPDATE sessions SET last_sequence = last_sequence + 1"
    " WHERE id = :session_id AND organization_id = :organization_id"
    f" AND status IN ({LIVE_SQL}) AND expires_at > :created_at"
    " RETURNING last_sequence, organization_id"
)
INSERT = f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES (:{', :'.join(_COLUMNS)})"
_BUMPED = {"sequence": "last_sequence", "organization_id": "organization_id"}
_APPEND = (
    f"WITH bumped AS ({BUMP}) INSERT INTO events ({', '.join(_COLUMNS)})"
    f" SELECT {', '.join(_BUMPED.get(c, ':' + c) for c in _COLUMNS)} FROM bumped"
    " RETURNING sequence, organization_id"
)
# asyncpg numbers its placeholders: `$n` for each name, in order of first use.
_PG_NAMES = list(dict.fromkeys(re.findall(r":(\w+)", _APPEND)))
APPEND_PG = re.sub(r":(\w+)", lambda m: f"${_PG_NAMES.index(m[1]) + 1}", _APPEND)
_TYPED = (sa.bindparam("created_at", type_=Timestamp), sa.bindparam("payload", type_=JsonObject))
Numbered = tuple[int, str]  # (sequence, the session's organization_id)
Outcome = Numbered | None | BaseException


async def append_within(conn: AsyncConnection, event: NewEvent) -> Numbered | None:
    """`Appender.append` inside the caller's transaction `conn`: the same UPDATE and INSERT."""
    bump = sa.text(BUMP).bindparams(_TYPED[0])
    bumped = (await conn.execute(bump, event)).first()
    if bumped is None:
        return None
    numbered = {**event, "sequence": bumped[0], "organization_id": bumped[1]}
    await conn.execute(sa.text(INSERT).bindparams(*_TYPED), numbered)
    return bumped[0], bumped[1]


async def in_ranges(
    conn: AsyncConnection, ranges: Iterable[tuple[str, int, int]]
) -> list[EventRecord]:
    """Events of each (session, low, high) range, in one statement, in no order."""
    wanted = [
        sa.and_(events.c.session_id == session_id, events.c.sequence.between(low, high))
        for session_id, low, high in ranges
    ]
    rows = await conn.execute(sa.select(events).where(sa.or_(*wanted)))
    return [EventRecord.from_row(row) for row in rows]


async def find(conn: AsyncConnection, organization_id: str, event_id: str) -> EventRecord | None:
    query = sa.select(events).where(
        events.c.id == event_id, events.c.organization_id == organization_id
    )
    row = (await conn.execute(query)).first()
    return EventRecord.from_row(row) if row is not None else None


class Appender:
    """Appends events for one `Database`: through `reader` on PostgreSQL, on SQLite through its
    own connection (opened on first use), reporting statements to `reader.listeners`."""

    def __init__(
        self,
        reader: LeanReader,
        pragmas: Sequence[str],
        writer_turn: AbstractAsyncContextManager[Any],
    ) -> None:
        self.reader = reader
        self.pragmas = tuple(pragmas)
        self.writer_turn = writer_turn
        self._thread: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[NewEvent, asyncio.Future[Numbered | None]]] = []
        self._writing: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written (SQLite), for tests and profiling

    async def append(self, event: NewEvent) -> Numbered | None:
        """(sequence, organization_id) once committed; None, writing nothing, if not live."""
        if not self.reader.is_sqlite:  # one autocommit round trip on the raw reader's pool
            row = await self.reader.fetch_row(APPEND_PG, [event[name] for name in _PG_NAMES])
            return (row[0], row[1]) if row is not None else None
        future: asyncio.Future[Numbered | None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_batches())
        return await future

    async def _write_batches(self) -> None:
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sessiongraph-appends")
        while self._pending:
            async with self.writer_turn:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                live = [(e, f) for e, f in batch if not f.cancelled()]
                if not live:
                    continue
                try:
                    outcomes, statements = await loop.run_in_executor(
                        self._thread, self._write, [e for e, _ in live]
                    )
                except BaseException as error:  # e.g. cancelled at shutdown: tell the waiters
                    for _, future in live:
                        if future.done():
                            continue
                        if isinstance(error, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(error)
                    raise
            for sql in statements:
                for listener in self.reader.listeners:
                    listener(sql)
            for (_, future), outcome in zip(live, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _write(self, batch: list[NewEvent]) -> tuple[list[Outcome], list[str]]:
        """In the writer thread: each append's outcome and the committed statements."""
        statements: list[str] = []
        try:
            return [*self._transaction(self._connection(), batch, statements)], statements
        except sqlite3.OperationalError as error:
            # Retrying each append alone would only repeat the wait.
            return [error] * len(batch), statements
        except Exception as error:
            if len(batch) == 1:
                return [error], statements
        singles: list[Outcome] = []
        for event in batch:
            try:
                singles.extend(self._transaction(self._connection(), [event], statements))
            except Exception as error:
                singles.append(error)
        return singles, statements

    def _transaction(
        self, conn: sqlite3.Connection, batch: list[NewEvent], committed: list[str]
    ) -> list[Numbered | None]:
        statements: list[str] = []
        numbered: list[Numbered | None] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for event in batch:
                # As SQLAlchemy stores a time in SQLite: UTC text with microseconds.
                stamp = event["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                values = {**event, "created_at": stamp}
                statements.append(BUMP)
                bumped = conn.execute(BUMP, values).fetchone()
                if bumped is None:
                    numbered.append(None)
                    continue
                statements.append(INSERT)
                if values["payload"] is not None:
                    values["payload"] = orjson.dumps(values["payload"]).decode()
                values.update(sequence=bumped[0], organization_id=bumped[1])
                conn.execute(INSERT, values)
                numbered.append((bumped[0], bumped[1]))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.batches += 1
        committed.extend(statements)
        return numbered

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.reader.url.database or "", isolation_level=None)
            for pragma in self.pragmas:
                conn.execute(pragma)
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        if self._writing is not None and not self._writing.done():
            await asyncio.wait([self._writing])
        if self._thread is not None:
            conn, self._conn = self._conn, None
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
            self._thread.shutdown(wait=False)
            self._thread = None
