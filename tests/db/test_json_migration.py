"""Revision 0006 turns PostgreSQL's `jsonb` columns into `json` and back: existing rows
stay readable both ways, and new values are kept verbatim only after the upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command

from db import events as event_ops
from db import sessions as session_ops
from db.keys import authenticate, create_key
from db.store.engine import Database
from db.store.migrate import alembic_config, head_revision
from tests.db.test_json_fidelity import FIDELITY_TEXT
from tests.support.databases import REQUIRE_POSTGRES, PostgresUnavailable, fresh_database
from tests.support.sessions import session_and_log

BEFORE = "0005_session_tombstones"
JSON_COLUMNS = {
    ("sessions", "assembly_state"),
    ("sessions", "plan"),
    ("sessions", "prd"),
    ("sessions", "product_object"),
    ("events", "payload"),
    ("idempotency_keys", "headers"),
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_and_downgrade_keep_stored_json(backend: str, tmp_path: Path) -> None:
    try:
        with fresh_database(backend, tmp_path) as url:
            asyncio.run(_up_and_down(url, backend))
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(str(error))
        pytest.skip(str(error))


async def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    def run(sync_connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with db.write() as conn:
        await conn.run_sync(run)


async def _column_types(db: Database) -> set[str]:
    if db.is_sqlite:
        return {"JSON"}
    async with db.read() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            )
        )
        return {row.data_type for row in rows if (row.table_name, row.column_name) in JSON_COLUMNS}


async def _up_and_down(url: str, backend: str) -> None:
    """Each step on a new `Database`, as after a deploy: a process that lived through the
    migration may keep statements its driver prepared for the old column types."""
    value = orjson.loads(FIDELITY_TEXT)
    db = Database(url)
    try:
        await _migrate(db, BEFORE)
        assert await _column_types(db) == ({"jsonb"} if backend == "postgresql" else {"JSON"})
        _, secret = await create_key(db, "org_migrate", "user_migrate")
        principal = await authenticate(db, secret)
        old = await session_ops.create_session(db, principal, {"prd": value})
        await event_ops.append_event(db, principal, old.id, type="info", payload=value)

        await _migrate(db, head_revision() or "head")
        await db.dispose()
        db = Database(url)
        assert await _column_types(db) == ({"json"} if backend == "postgresql" else {"JSON"})
        # Rows from before keep what jsonb made of them: the same value, normalised.
        kept, [event] = await session_and_log(db, principal, old.id)
        assert kept.prd == value and event.payload == value
        new = await session_ops.create_session(db, principal, {"prd": value})
        await event_ops.append_event(db, principal, new.id, type="info", payload=value)
        fresh, [fresh_event] = await session_and_log(db, principal, new.id)
        assert orjson.dumps(fresh.prd) == orjson.dumps(fresh_event.payload) == orjson.dumps(value)

        await _migrate(db, BEFORE, down=True)
        await db.dispose()
        db = Database(url)
        assert await _column_types(db) == ({"jsonb"} if backend == "postgresql" else {"JSON"})
        for session_id in (old.id, new.id):
            record, [logged] = await session_and_log(db, principal, session_id)
            assert record.prd == value and logged.payload == value
        await _migrate(db, "head")
        await db.dispose()
        db = Database(url)
        assert (await session_ops.get_session(db, principal, new.id)).prd == value
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0007_rewrites_stored_json_as_compact_text(backend: str, tmp_path: Path) -> None:
    """Rows spelled by SQLAlchemy's default serializer come out as orjson writes them."""
    try:
        with fresh_database(backend, tmp_path) as url:
            asyncio.run(_compacted(url))
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(str(error))
        pytest.skip(str(error))


async def _compacted(url: str) -> None:
    import json

    value = orjson.loads(FIDELITY_TEXT)
    db = Database(url)
    try:
        await _migrate(db, "0006_json_verbatim")
        _, secret = await create_key(db, "org_compact", "user_compact")
        principal = await authenticate(db, secret)
        session = await session_ops.create_session(db, principal, {})
        event = await event_ops.append_event(db, principal, session.id, type="info")
        spelled = json.dumps(value)  # `{"zeta": 1, …}`, `1e+19`, `\u00e9`
        async with db.write() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE sessions SET prd = CAST(:v AS json), assembly_state = CAST('null' AS json)"
                    " WHERE id = :id"
                    if not db.is_sqlite
                    else "UPDATE sessions SET prd = :v, assembly_state = 'null' WHERE id = :id"
                ),
                {"v": spelled, "id": session.id},
            )
            await conn.execute(
                sa.text(
                    "UPDATE events SET payload = "
                    + (":v" if db.is_sqlite else "CAST(:v AS json)")
                    + " WHERE id = :id"
                ),
                {"v": spelled, "id": event.id},
            )
        await _migrate(db, head_revision())
        text = "" if db.is_sqlite else "::text"
        async with db.read() as conn:
            prd, state = (
                await conn.execute(
                    sa.text(f"SELECT prd{text}, assembly_state{text} FROM sessions WHERE id = :id"),
                    {"id": session.id},
                )
            ).one()
            payload = await conn.scalar(
                sa.text(f"SELECT payload{text} FROM events WHERE id = :id"), {"id": event.id}
            )
        assert prd == payload == orjson.dumps(value).decode() != spelled
        assert state == "null"
    finally:
        await db.dispose()
