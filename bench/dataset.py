"""The benchmark data set, written with bulk inserts (thousands of rows per statement batch).

- `org_bench_reads`: `sessions` sessions with `events` events each (q1, q2, REST GET).
- `org_bench_pages`: `page_sessions` sessions without events (keyset pagination).
- 64 older sessions of `org_bench_reads` take the appends, so the reads stay the same size.
Keys get a plan whose limits never throttle or refuse the run. JSON columns are written as
compact orjson text (what the server's raw-driver writes store), not SQLAlchemy's default
`json.dumps` text with spaces: the floor that passes stored JSON through relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from db import clock
from db.cursors import encode_session_cursor
from db.ids import new_event_id, new_session_id
from db.keys import create_key
from db.models import events, sessions
from db.records import Plan
from db.sessions import product_object_hash
from db.store.engine import Database
from db.store.migrate import upgrade_to_head

BENCH_PLAN = Plan(name="Benchmark", max_sessions=10**9, max_requests_per_minute=10**9)
CHUNK = 5_000
WRITE_SESSIONS = 64


@dataclass(frozen=True, slots=True)
class Dataset:
    key: str
    pages_key: str
    read_ids: list[str]
    write_ids: list[str]
    deep_cursor: str
    deep_rows: int


def _session_rows(
    org: str, user: str, count: int, *, rich: bool, events_each: int
) -> list[dict[str, Any]]:
    now = clock.now()
    product = {"type": "text-generation", "config": {"maxTokens": 512, "language": "en"}}
    rows = []
    for index in range(count):
        created = now - timedelta(milliseconds=count - index)
        rows.append(
            {
                "id": new_session_id(),
                "organization_id": org,
                "user_id": user,
                "status": "generating",
                "assembly_state": {"step": "assembling", "progress": 75} if rich else None,
                "catalog_version": "v2.4.1" if rich else None,
                "plan": BENCH_PLAN.snapshot(),
                "prd": {"name": "AI Content Generator", "version": "1.3.0"} if rich else None,
                "product_object": product if rich else None,
                "product_object_hash": product_object_hash(product) if rich else None,
                "schema_version": "1.0.0" if rich else None,
                "created_at": created,
                "updated_at": created,
                "expires_at": now + timedelta(days=30),
                "last_sequence": events_each,
                "revision": 1,
            }
        )
    return rows


def _event_rows(session: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": new_event_id(),
            "session_id": session["id"],
            "sequence": sequence,
            "organization_id": session["organization_id"],
            "user_id": session["user_id"],
            "type": ("debug", "info", "warning", "error")[sequence % 4],
            "stage": "generating",
            "message": f"step {sequence} done",
            "payload": {"inputParameters": {"model": "runtype-v1", "temperature": 0.7}},
            "created_at": session["created_at"],
        }
        for sequence in range(1, count + 1)
    ]


def _compact_json(
    table: sa.Table, rows: list[dict[str, Any]]
) -> tuple[sa.TableClause, list[dict[str, Any]]]:
    """`table` with its JSON columns untyped (values go to the driver as they are, and the
    database takes text for `json`), and `rows` with those values as orjson text."""
    json_columns = {c.name for c in table.c if isinstance(c.type, sa.JSON)}
    plain = sa.table(
        table.name,
        *(
            sa.column(c.name) if c.name in json_columns else sa.column(c.name, c.type)
            for c in table.c
        ),
    )
    encoded = [
        {k: orjson.dumps(v).decode() if k in json_columns else v for k, v in row.items()}
        for row in rows
    ]
    return plain, encoded


async def _insert(db: Database, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    plain, encoded = _compact_json(table, rows)
    async with db.write() as conn:
        for start in range(0, len(encoded), CHUNK):
            await conn.execute(plain.insert(), encoded[start : start + CHUNK])


async def create(
    url: str, *, sessions_count: int, events_each: int, page_sessions: int, deep_rows: int
) -> Dataset:
    """Migrate an empty database and fill it; returns the keys and ids the workloads use."""
    db = Database(url)
    try:
        await upgrade_to_head(db)
        _, key = await create_key(db, "org_bench_reads", "user_bench", plan=BENCH_PLAN)
        _, pages_key = await create_key(db, "org_bench_pages", "user_bench", plan=BENCH_PLAN)
        reads = _session_rows(
            "org_bench_reads", "user_bench", sessions_count, rich=True, events_each=events_each
        )
        writes = _session_rows(
            "org_bench_reads", "user_bench", WRITE_SESSIONS, rich=False, events_each=0
        )
        for row in writes:  # older than every read session: never on q2's first page
            row["created_at"] = row["updated_at"] = row["created_at"] - timedelta(days=1)
        pages = _session_rows(
            "org_bench_pages", "user_bench", page_sessions, rich=False, events_each=0
        )
        await _insert(db, sessions, reads + writes + pages)
        await _insert(db, events, [e for s in reads for e in _event_rows(s, events_each)])
        async with db.read() as conn:
            deep = (
                await conn.execute(
                    sa.select(sessions.c.created_at, sessions.c.id)
                    .where(sessions.c.organization_id == "org_bench_pages")
                    .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
                    .offset(deep_rows - 1)
                    .limit(1)
                )
            ).one()
        if not db.is_sqlite:
            async with db.write() as conn:
                await conn.exec_driver_sql("ANALYZE")
        return Dataset(
            key=key,
            pages_key=pages_key,
            read_ids=[r["id"] for r in reads],
            write_ids=[r["id"] for r in writes],
            deep_cursor=encode_session_cursor(deep.created_at, deep.id),
            deep_rows=deep_rows,
        )
    finally:
        await db.dispose()
