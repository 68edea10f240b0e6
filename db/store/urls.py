"""Database URLs as people write them, turned into the async drivers SQLAlchemy needs.

One query parameter is sessiongraph's own and never reaches a driver: `pgbouncer=true`
says the URL points at PgBouncer in transaction mode (as Prisma spells it), where a
client's consecutive transactions may run on different server connections, so nothing
may live on a server connection past a transaction: no prepared statement kept by name,
no session `SET`, no `LISTEN`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
PGBOUNCER = "pgbouncer"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def async_url(url: str | URL) -> URL:
    """`postgresql://…` and `sqlite:///…` get the async driver; other schemes are refused.

    `pgbouncer=…` is dropped from the result (read it with `behind_pgbouncer`).
    """
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
    """Whether the URL says `pgbouncer=true` (transaction pooling in front of PostgreSQL)."""
    value = make_url(url).query.get(PGBOUNCER, "false")
    text = (value[-1] if isinstance(value, tuple) else value).strip().lower()
    if text not in _TRUE + _FALSE:
        raise ValueError(f"database URL: {PGBOUNCER}={text!r} must be true or false")
    return text in _TRUE


def driver_dsn(url: URL) -> str:
    """The `postgresql://…` form asyncpg takes, from an `async_url` result."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"
