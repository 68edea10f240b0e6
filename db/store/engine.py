"""The async engines behind every operation. SQLite has one writer, so this process's writes
(and appends, on `sqlite_writer_turn`) queue on a one-connection `BEGIN IMMEDIATE` engine
instead of racing for the lock; reads use a small WAL pool. PostgreSQL needs one pool.
`pgbouncer=true` in the URL (Prisma's spelling) means PgBouncer in transaction mode: nothing
may outlive a transaction (named statements, session `SET`, LISTEN)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import orjson
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from db.live.bus import Bus, Hint, PostgresBus, bus_for
from db.store.appends import Appender
from db.store.driver import SQLITE_BUSY_TIMEOUT_MS, LeanReader, json_text

# A write transaction a caller holds across operations (`Database.write`), opaque to doors.
Transaction = AsyncConnection
_PENDING_HINTS = "sessiongraph.pending_hints"
T = TypeVar("T")
DEFAULT_MAX_CONNECTIONS = 20
# Behind PgBouncer asyncpg prepares only unnamed statements and SQLAlchemy caches none.
PGBOUNCER_CONNECT_ARGS = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
_ASYNC_DRIVERS = {
    **dict.fromkeys(("postgresql", "postgres", "postgresql+asyncpg"), "postgresql+asyncpg"),
    **dict.fromkeys(("sqlite", "sqlite+aiosqlite"), "sqlite+aiosqlite"),
}
PGBOUNCER = "pgbouncer"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def async_url(url: str | URL) -> URL:
    """The async driver's URL, without `pgbouncer=…` (see `behind_pgbouncer`)."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
        )
    behind_pgbouncer(parsed)  # refuses a value that is neither true nor false
    return parsed.set(drivername=driver).difference_update_query([PGBOUNCER])


def behind_pgbouncer(url: str | URL) -> bool:
    value = make_url(url).query.get(PGBOUNCER, "false")
    text = (value[-1] if isinstance(value, tuple) else value).strip().lower()
    if text not in _TRUE + _FALSE:
        raise ValueError(f"database URL: {PGBOUNCER}={text!r} must be true or false")
    return text in _TRUE


@dataclass(frozen=True, slots=True)
class ConnectionBudget:
    """`orm + raw + listen == total`, no overflow: LISTEN holds one for good; the rest is
    halved, the odd one to SQLAlchemy's pool, which holds one for a whole transaction."""

    total: int
    orm: int
    raw: int
    listen: int

    @classmethod
    def split(cls, total: int, *, listen: int = 1) -> ConnectionBudget:
        if total < 2 + listen:
            raise ValueError(
                f"a connection budget of {total} is too small: it needs one connection for "
                f"each pool{' and one for LISTEN' if listen else ''} ({2 + listen})"
            )
        raw = (total - listen) // 2
        return cls(total=total, orm=total - listen - raw, raw=raw, listen=listen)


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        listen_url: str | None = None,
        bus_url: str | None = None,
        bus_poll_seconds: float = 1.0,
    ) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.pgbouncer = not self.is_sqlite and behind_pgbouncer(url)
        self.bus: Bus = bus_for(
            self.url,
            listen_url=async_url(listen_url) if listen_url is not None else None,
            bus_url=bus_url,
            poll_interval=bus_poll_seconds,
        )
        self.budget: ConnectionBudget | None = None
        pragmas: tuple[str, ...] = ()
        self.sqlite_writer_turn: AbstractAsyncContextManager[Any] = nullcontext()
        if self.is_sqlite:
            self.sqlite_writer_turn = asyncio.Lock()
            pragmas = (
                "PRAGMA journal_mode=WAL",
                f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
                f"PRAGMA synchronous={sqlite_synchronous}",
                "PRAGMA foreign_keys=ON",
            )
            self.engine = _sqlite_engine(self.url, pragmas, "BEGIN", 4)
            self.write_engine = _sqlite_engine(self.url, pragmas, "BEGIN IMMEDIATE", 1)
            self.engines: tuple[AsyncEngine, ...] = (self.engine, self.write_engine)
        else:
            self.budget = ConnectionBudget.split(
                max_connections, listen=1 if isinstance(self.bus, PostgresBus) else 0
            )
            self.engine = create_async_engine(
                self.url,
                pool_size=self.budget.orm,
                max_overflow=0,
                connect_args=dict(PGBOUNCER_CONNECT_ARGS) if self.pgbouncer else {},
                **JSON_CODEC,
            )
            self.write_engine = self.engine
            self.engines = (self.engine,)
        raw = 4 if self.budget is None else self.budget.raw
        self.lean = LeanReader(self.url, pool_size=raw, pgbouncer=self.pgbouncer)
        self.appends = Appender(self.lean, pragmas, self.sqlite_writer_turn)
        self._parts: dict[Callable[[Database], Any], Any] = {}

    def part(self, make: Callable[[Database], T]) -> T:
        """This process's one `make(self)` (its rate limiter, live feeds, key watch)."""
        if make not in self._parts:
            self._parts[make] = make(self)
        return cast(T, self._parts[make])

    def read(self) -> AsyncConnection:
        """A connection in a read transaction (one snapshot for all its statements on SQLite)."""
        return self.engine.connect()

    @asynccontextmanager
    async def write(self, within: AsyncConnection | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction, or `within`, one the caller already holds (an idempotency claim)."""
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
        """Publish `hint` once `conn`'s transaction commits, so no reader looks too early."""
        conn.info[_PENDING_HINTS].append(hint)

    def connections(self) -> dict[str, tuple[int, int]]:
        """PostgreSQL connections open now, `{pool: (in_use, idle)}`; empty on SQLite."""
        if self.budget is None:
            return {}
        pool: Any = self.engine.pool
        listening = 1 if isinstance(self.bus, PostgresBus) and self.bus.connected else 0
        return {
            "orm": (pool.checkedout(), pool.checkedin()),
            "raw": self.lean.postgres_connections(),
            "listen": (listening, 0),
        }

    async def dispose(self) -> None:
        await self.appends.close()
        await self.lean.close()
        for engine in self.engines:
            await engine.dispose()


def upsert(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT that takes `ON CONFLICT`, in the connection's dialect."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


JSON_CODEC: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


def _sqlite_engine(url: Any, pragmas: tuple[str, ...], begin: str, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=60, **JSON_CODEC
    )

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
