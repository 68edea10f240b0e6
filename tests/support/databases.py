"""Real databases for tests: a fresh SQLite file, and a fresh database on the real PostgreSQL.

PostgreSQL is found at `SESSIONGRAPH_TEST_POSTGRES_URL` (default: the local server). When it
is unreachable its tests skip, unless `SESSIONGRAPH_REQUIRE_POSTGRES=1` (as in CI), where
they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db.store.engine import Database
from db.store.migrate import upgrade_to_head

POSTGRES_ADMIN_URL = os.environ.get(
    "SESSIONGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("SESSIONGRAPH_REQUIRE_POSTGRES", "") not in ("", "0")


class PostgresUnavailable(Exception):
    pass


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(_plain(POSTGRES_ADMIN_URL), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        raise PostgresUnavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {error}") from error
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database; dropped (with its connections) afterwards."""
    name = "sessiongraph_test_" + secrets.token_hex(6)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _plain(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fresh_sqlite_database(directory: Path) -> Iterator[str]:
    path = directory / f"sessiongraph-{secrets.token_hex(4)}.db"
    yield f"sqlite:///{path}"


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "postgresql":
        with fresh_postgres_database() as url:
            yield url
    else:
        with fresh_sqlite_database(directory) as url:
            yield url


def migrate(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            await upgrade_to_head(db)
        finally:
            await db.dispose()

    asyncio.run(run())
