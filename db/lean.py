"""Hot reads on the raw driver: the same SQL, without SQLAlchemy's per-statement machinery.

A key lookup, a session by id, a page of sessions and a batch of event windows run on
nearly every request. Through SQLAlchemy's asyncio layer each costs 0.6-1.1 ms (pool
checkout, greenlet switches, an explicit BEGIN/ROLLBACK, row processing); on the driver
itself 0.1-0.2 ms. Each is one read-only statement, so running it on its own in
autocommit mode sees one consistent snapshot, as before.

Writes, rarer reads and anything needing SQLAlchemy's expression building stay in the
operations modules. Statements run here are reported to `Database.statement_listeners`,
so statement counts stay observable.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import make_url

from db.cursors import session_cursor


def _sqlite_time(value: str | datetime) -> datetime:
    """SQLite keeps SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` text, in UTC without offset.

    Parsing the text with its offset appended is one C call; `replace(tzinfo=…)` after
    parsing would double the cost of the most frequent conversion of a page of events.
    """
    if type(value) is str:
        try:
            return _fromisoformat(value + "+00:00")
        except ValueError:
            return _fromisoformat(value).replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return _fromisoformat(value).replace(tzinfo=UTC)


_fromisoformat = datetime.fromisoformat


def _pg_time(value: datetime) -> datetime:
    """asyncpg hands `timestamptz` back in UTC already; converting again costs a new object."""
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _json_text(value: Any) -> Any:
    return orjson.loads(value) if value is not None else None


class LeanReader:
    """A few raw driver connections for read-only statements, opened on first use.

    SQL is written with `?` placeholders; for PostgreSQL they become `$1, $2, …`.
    """

    def __init__(
        self,
        url: Any,
        *,
        is_sqlite: bool,
        pool_size: int,
        busy_timeout_ms: int,
        pgbouncer: bool = False,
    ) -> None:
        self.url = url
        self.is_sqlite = is_sqlite
        self.pool_size = pool_size
        self.pgbouncer = pgbouncer
        self.busy_timeout_ms = busy_timeout_ms
        self.listeners: list[Any] = []
        self._open_lock = asyncio.Lock()
        self._connections: list[Any] = []
        self._turn = itertools.count()
        self._pool: Any = None
        self._pg_sql: dict[str, str] = {}
        self.time = _sqlite_time if is_sqlite else _pg_time
        self.json = _json_text

    async def _open(self) -> None:
        async with self._open_lock:
            if self._connections or self._pool is not None:
                return
            if self.is_sqlite:
                import aiosqlite

                path = make_url(self.url).database or ""
                for _ in range(self.pool_size):
                    conn = await aiosqlite.connect(path, isolation_level=None)
                    await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
                    await conn.create_function(
                        "session_cursor", 2, session_cursor, deterministic=True
                    )
                    self._connections.append(conn)
            else:
                import asyncpg

                plain = make_url(self.url).set(drivername="postgresql")
                # Behind PgBouncer (transaction mode) statements are unnamed and re-parsed
                # with each execution: a named one would stay on a server connection that
                # other clients get next.
                cache = {"statement_cache_size": 0} if self.pgbouncer else {}
                self._pool = await asyncpg.create_pool(
                    plain.render_as_string(hide_password=False),
                    min_size=1,
                    max_size=self.pool_size,
                    init=_pg_codecs,
                    reset=_nothing_to_reset,
                    **cache,
                )
                self.json = _identity

    async def postgres_pool(self) -> Any:
        """The asyncpg pool, opened on first use; appends (`db.lean_appends`) run on it too."""
        if self._pool is None:
            await self._open()
        return self._pool

    def postgres_connections(self) -> tuple[int, int]:
        """(in use, idle) connections of the asyncpg pool; (0, 0) before it opens."""
        pool = self._pool
        if pool is None:
            return 0, 0
        idle: int = pool.get_idle_size()
        return pool.get_size() - idle, idle

    def _postgres(self, sql: str) -> str:
        converted = self._pg_sql.get(sql)
        if converted is None:
            parts = sql.split("?")
            converted = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], start=1))
            self._pg_sql[sql] = converted
        return converted

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """Rows of one read-only statement, as tuples in the selected column order."""
        if not self._connections and self._pool is None:
            await self._open()
        for listener in self.listeners:
            listener(sql)
        if self.is_sqlite:
            conn = self._connections[next(self._turn) % len(self._connections)]
            return list(await conn.execute_fetchall(sql, tuple(args)))
        return list(await self._pool.fetch(self._postgres(sql), *args))

    async def fetch_value(self, sql: str, args: Sequence[Any]) -> Any:
        """The one value of a statement written for this engine (numbered placeholders)."""
        if not self._connections and self._pool is None:
            await self._open()
        for listener in self.listeners:
            listener(sql)
        if self.is_sqlite:
            conn = self._connections[next(self._turn) % len(self._connections)]
            async with conn.execute(sql, tuple(args)) as cursor:
                row = await cursor.fetchone()
            return row[0]
        return await self._pool.fetchval(sql, *args)

    async def fetch_row(self, sql: str, args: Sequence[Any]) -> Any:
        """The first row of a statement written for this engine, or None."""
        if not self._connections and self._pool is None:
            await self._open()
        for listener in self.listeners:
            listener(sql)
        if self.is_sqlite:
            conn = self._connections[next(self._turn) % len(self._connections)]
            async with conn.execute(sql, tuple(args)) as cursor:
                return await cursor.fetchone()
        return await self._pool.fetchrow(sql, *args)

    def bind_time(self, value: datetime) -> Any:
        """A timestamp as the column stores it, for comparisons in SQL."""
        if self.is_sqlite:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    async def close(self) -> None:
        for conn in self._connections:
            await conn.close()
        self._connections = []
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _identity(value: Any) -> Any:
    return value


async def _nothing_to_reset(_conn: Any) -> None:
    """Statements on this pool are single reads and single-statement appends in autocommit
    that change no session state, so a released connection needs no `RESET ALL; UNLISTEN *;
    …` round trip (asyncpg's default; an open transaction is still rolled back by the pool)."""


async def _pg_codecs(conn: Any) -> None:
    """JSON columns decoded by orjson as they arrive, like SQLAlchemy's JSON type does, and
    JSON parameters (an appended event's `payload`) written by orjson."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            schema="pg_catalog",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
        )
