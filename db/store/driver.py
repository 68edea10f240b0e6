"""The raw driver, for the statements every request runs (the key check, planned reads): a
statement costs 0.1-0.2 ms here, 0.6-1.1 ms through SQLAlchemy's asyncio layer. Each is one
autocommit statement (one snapshot), reported to `listeners` so counts stay visible."""

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import aiosqlite
import asyncpg
import orjson
from sqlalchemy.engine import URL

from db.cursors import session_cursor

SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a SQLite statement waits for another's write lock


class LeanReader:
    def __init__(self, url: URL, *, pool_size: int, pgbouncer: bool) -> None:
        self.url = url
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.pool_size = pool_size
        self.pgbouncer = pgbouncer
        self.listeners: list[Any] = []
        self._open_lock = asyncio.Lock()
        self._connections: list[Any] = []
        self._turn = itertools.count()
        self._pool: Any = None

    async def _open(self) -> None:
        async with self._open_lock:
            if self._connections or self._pool is not None:
                return
            if self.is_sqlite:
                for _ in range(self.pool_size):
                    conn = await aiosqlite.connect(self.url.database or "", isolation_level=None)
                    await conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                    await conn.create_function(
                        "session_cursor", 2, session_cursor, deterministic=True
                    )
                    self._connections.append(conn)
            else:
                # As PGBOUNCER_CONNECT_ARGS (db/store/engine.py), for the same reason.
                cache = {"statement_cache_size": 0} if self.pgbouncer else {}
                self._pool = await asyncpg.create_pool(
                    self.url.set(drivername="postgresql").render_as_string(hide_password=False),
                    min_size=1,
                    max_size=self.pool_size,
                    init=_pg_codecs,
                    reset=_nothing_to_reset,
                    **cache,
                )

    def postgres_connections(self) -> tuple[int, int]:
        if self._pool is None:
            return 0, 0
        idle: int = self._pool.get_idle_size()
        return self._pool.get_size() - idle, idle

    async def fetch_row(self, sql: str, args: Sequence[Any]) -> Any:
        """The first row or None (placeholders: `$1` on PostgreSQL, `?1` on SQLite)."""
        if not self._connections and self._pool is None:
            await self._open()
        for listener in self.listeners:
            listener(sql)
        if self.is_sqlite:
            conn = self._connections[next(self._turn) % len(self._connections)]
            async with conn.execute(sql, tuple(args)) as cursor:
                return await cursor.fetchone()
        return await self._pool.fetchrow(sql, *args)

    async def close(self) -> None:
        for conn in self._connections:
            await conn.close()
        self._connections = []
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def json_text(value: Any) -> str:
    """orjson's compact text, so reads splicing stored JSON into answers match orjson's."""
    return orjson.dumps(value).decode()


async def _nothing_to_reset(_conn: Any) -> None:
    """Statements on this pool change no session state, so a released connection needs no
    `RESET ALL; UNLISTEN *; …` round trip (asyncpg's default; the pool still rolls back)."""


async def _pg_codecs(conn: Any) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=json_text, decoder=orjson.loads
        )
