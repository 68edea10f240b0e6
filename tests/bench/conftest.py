"""A small bench data set on each database, with rows that are hard to write as JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from bench import dataset
from db.store.engine import Database
from tests.support.databases import REQUIRE_POSTGRES, PostgresUnavailable, fresh_database

# Quotes, backslashes, control characters, non-ASCII and a line separator: each database's
# JSON string quoting must write them as orjson does.
ODD_TEXT = 'quote " backslash \\ slash / newline \n tab \t \x01 \x1f \x7f é 中文 😀 \u2028 end'
ODD_JSON = {"text": ODD_TEXT, "small": 1.5e-07, "negative": -0.0, "big": 12345678901234}


@dataclass(frozen=True, slots=True)
class BenchData:
    url: str
    data: dataset.Dataset
    short_id: str  # a session with 3 events
    empty_id: str  # a session with none


async def _odd_rows(url: str, data: dataset.Dataset) -> tuple[str, str]:
    """One session with odd text everywhere, one with 3 events, one with none."""
    odd, short, empty = data.read_ids[:3]
    sessions = sa.table(
        "sessions",
        sa.column("id"),
        sa.column("catalog_version"),
        sa.column("prd"),
        sa.column("schema_version"),
        sa.column("last_sequence"),
    )
    events = sa.table(
        "events",
        sa.column("session_id"),
        sa.column("sequence"),
        sa.column("message"),
        sa.column("stage"),
        sa.column("payload"),
    )
    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(
                sessions.update()
                .where(sessions.c.id == odd)
                .values(
                    catalog_version=ODD_TEXT,
                    prd=orjson.dumps(ODD_JSON).decode(),
                    schema_version=None,
                )
            )
            await conn.execute(
                events.update()
                .where(events.c.session_id == odd, events.c.sequence == 2)
                .values(message=ODD_TEXT, payload=orjson.dumps([ODD_JSON, None]).decode())
            )
            await conn.execute(
                events.update()
                .where(events.c.session_id == odd, events.c.sequence == 3)
                .values(message=None, stage=None, payload="null")
            )
            await conn.execute(
                events.delete().where(events.c.session_id == short, events.c.sequence > 3)
            )
            await conn.execute(
                sessions.update().where(sessions.c.id == short).values(last_sequence=3)
            )
            await conn.execute(events.delete().where(events.c.session_id == empty))
            await conn.execute(
                sessions.update().where(sessions.c.id == empty).values(last_sequence=0)
            )
    finally:
        await db.dispose()
    return short, empty


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bench_data(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BenchData]:
    """24 sessions of 20 events on a fresh database, three of them odd (see `_odd_rows`)."""
    directory: Path = tmp_path_factory.mktemp("bench")
    try:
        with fresh_database(request.param, directory) as url:
            data = asyncio.run(
                dataset.create(url, sessions_count=24, events_each=20, page_sessions=2, deep_rows=1)
            )
            short, empty = asyncio.run(_odd_rows(url, data))
            yield BenchData(url, data, short, empty)
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unavailable: {error}")
        pytest.skip(str(error))
