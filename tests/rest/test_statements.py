"""What one REST request costs the database, counted (never timed), on both databases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.engine import Database
from db.hot_reads import EVENT_COLUMNS
from tests.rest.conftest import BASE, Rest
from tests.support.statements import count_statements


async def test_get_is_the_key_the_row_and_the_log(rest: Rest, db: Database, backend: str) -> None:
    session = await rest.create()
    for i in range(5):
        await rest.append(session["id"], {"type": "info", "message": str(i)})
    with count_statements(db) as counter:
        response = await rest.get(f"{BASE}/{session['id']}")
    assert response.status_code == 200 and len(response.json()["events"]) == 5
    # The key, then the row and its log: one statement on SQLite, two on PostgreSQL.
    assert counter.count == (3 if backend == "postgresql" else 2), counter.statements


async def test_append_is_the_key_and_one_numbered_write(
    rest: Rest, db: Database, backend: str
) -> None:
    session = await rest.create()
    with count_statements(db) as counter:
        event = await rest.append(session["id"], {"type": "info", "payload": {"a": [1]}})
    assert event["sequence"] == 1 and event["payload"] == {"a": [1]}
    # PostgreSQL: one data-modifying statement; SQLite: the bump and the insert.
    assert counter.count == (2 if backend == "postgresql" else 3), counter.statements


async def test_a_session_deleted_between_row_and_log_is_not_found(rest: Rest, db: Database) -> None:
    """On PostgreSQL the two reads of GET share no snapshot: a log shorter than the row
    says means the session was deleted in between, and the answer is 404, as if the delete
    came first. (On SQLite one statement reads both; the delete then lands before it.)"""
    session = await rest.create()
    await rest.append(session["id"], {"type": "info"})
    original = db.lean.fetch
    deleted: list[int] = []

    async def delete_before_the_log(sql: str, args: Sequence[Any]) -> list[Any]:
        reads_log = sql.startswith(f"SELECT {EVENT_COLUMNS} FROM events") or "UNION ALL" in sql
        if reads_log and not deleted:
            deleted.append((await rest.delete(f"{BASE}/{session['id']}")).status_code)
        return await original(sql, args)

    db.lean.fetch = delete_before_the_log  # type: ignore[method-assign]
    try:
        response = await rest.get(f"{BASE}/{session['id']}")
    finally:
        db.lean.fetch = original  # type: ignore[method-assign]
    assert deleted == [204] and response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
