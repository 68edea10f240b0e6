"""The async engines behind every operation, tuned per database.

SQLite allows one writer at a time. Writes therefore go through a one-connection engine
whose transactions open with `BEGIN IMMEDIATE`: concurrent writers in this process queue
for the connection instead of racing for the lock, and other processes wait on
`busy_timeout`. Appends without an idempotency claim have their own writer
(`db.lean_appends`, group commit); it and this engine take turns on `sqlite_writer_turn`.
Reads use a small pool and never block the writer (WAL).
PostgreSQL needs none of this: one pool, and row locks serialise what must be serial.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from db.bus import Bus, Hint, bus_for
from db.lean import LeanReader
from db.lean_appends import Appender
from db.urls import async_url, is_sqlite

SqliteSynchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_PENDING_HINTS = "sessiongraph.pending_hints"


class Database:
    """Owns the engines; `read()` and `write()` hand out connections inside a transaction."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: SqliteSynchronous = "FULL",
        sqlite_busy_timeout_ms: int = 10_000,
        pool_size: int = 10,
    ) -> None:
        self.url = async_url(url)
        self.is_sqlite = is_sqlite(self.url)
        self.dialect = "sqlite" if self.is_sqlite else "postgresql"
        pragmas: tuple[str, ...] = ()
        # SQLite: the process's writers (this engine's connection and the appender's) take
        # turns here rather than in SQLite's busy handler.
        self.sqlite_writer_turn: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.is_sqlite else nullcontext()
        )
        if self.is_sqlite:
            pragmas = (
                "PRAGMA journal_mode=WAL",
                f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}",
                f"PRAGMA synchronous={sqlite_synchronous}",
                "PRAGMA foreign_keys=ON",
            )
            self.engine = _sqlite_engine(self.url, pragmas, "BEGIN", pool_size=4)
            self.write_engine = _sqlite_engine(self.url, pragmas, "BEGIN IMMEDIATE", pool_size=1)
        else:
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
            )
            self.write_engine = self.engine
        # Operations publish a hint here after each commit; live streams listen.
        self.bus: Bus = bus_for(self.url)
        self.lean = LeanReader(
            self.url,
            is_sqlite=self.is_sqlite,
            pool_size=4 if self.is_sqlite else pool_size,
            busy_timeout_ms=sqlite_busy_timeout_ms,
        )
        # Appends without an idempotency claim run on the raw driver (`db.lean_appends`).
        self.appends = Appender(
            self.url,
            is_sqlite=self.is_sqlite,
            pragmas=pragmas,
            writer_turn=self.sqlite_writer_turn,
            listeners=self.lean.listeners,
            postgres_pool=self.lean.postgres_pool,
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction (one snapshot for all its statements on SQLite)."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self, within: AsyncConnection | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on success, rolled back on error.

        `within` joins a transaction the caller already holds (e.g. an idempotency claim), so
        an operation and its bookkeeping commit together.
        """
        if within is not None:
            yield within
            return
        async with self.sqlite_writer_turn, self.write_engine.begin() as conn:
            pending: list[Hint] = []
            conn.info[_PENDING_HINTS] = pending
            yield conn
        # Reached only once the transaction has committed: announce what it changed.
        for hint in pending:
            self.bus.publish(hint)

    def announce(self, conn: AsyncConnection, hint: Hint) -> None:
        """Publish `hint` when the transaction `conn` belongs to commits; never if it rolls back.

        An operation joined to a caller's transaction (`within`) must not be announced
        before that transaction commits, or a reader would look before the rows exist.
        """
        conn.info[_PENDING_HINTS].append(hint)

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        return (
            (self.engine,) if self.write_engine is self.engine else (self.engine, self.write_engine)
        )

    @property
    def statement_listeners(self) -> list[Any]:
        """Called with the SQL of each statement the lean reader runs (SQLAlchemy has events)."""
        return self.lean.listeners

    async def dispose(self) -> None:
        await self.appends.close()
        await self.lean.close()
        for engine in self.engines:
            await engine.dispose()


def _sqlite_engine(
    url: Any, pragmas: tuple[str, ...], begin: str, *, pool_size: int
) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to us: the driver's implicit BEGIN is always DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine
