"""Migrations take an empty database to head on each engine, and the models agree with them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.models import metadata
from db.store.engine import Database
from db.store.migrate import current_revision, head_revision, upgrade_to_head
from tests.support.databases import REQUIRE_POSTGRES, PostgresUnavailable, fresh_database


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_empty_database_upgrades_to_head(backend: str, tmp_path: Path) -> None:
    try:
        with fresh_database(backend, tmp_path) as url:
            asyncio.run(_upgrade_and_compare(url))
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(str(error))
        pytest.skip(str(error))


async def _upgrade_and_compare(url: str) -> None:
    db = Database(url)
    try:
        assert await current_revision(db) is None
        await upgrade_to_head(db)
        assert await current_revision(db) == head_revision()
        await upgrade_to_head(db)  # idempotent
        assert await current_revision(db) == head_revision()

        def diff(sync_connection: Any) -> list[Any]:
            context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with db.read() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()


def test_migration_files_are_named_in_chain_order() -> None:
    """Reading the folder in name order is reading the history in order (revision ids are
    older names and stay as they are, so existing databases upgrade as before)."""
    from alembic.script import ScriptDirectory

    from db.store.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    chain = list(reversed([Path(s.path).name for s in scripts.walk_revisions()]))
    assert chain == sorted(chain)
    assert [name[:4] for name in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)]
