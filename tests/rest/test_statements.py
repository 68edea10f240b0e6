"""What one REST request costs the database, counted (never timed), on both databases."""

from __future__ import annotations

from db.store.engine import Database
from tests.rest.conftest import BASE, Rest
from tests.support.statements import count_statements


async def test_get_is_the_key_the_row_and_the_log(rest: Rest, db: Database, backend: str) -> None:
    session = await rest.create()
    for i in range(5):
        await rest.append(session["id"], {"type": "info", "message": str(i)})
    with count_statements(db, leases=False) as counter:
        response = await rest.get(f"{BASE}/{session['id']}")
    assert response.status_code == 200 and len(response.json()["events"]) == 5
    # One statement checks the key, reads the row and its log (one snapshot, so the ETag
    # and the log agree) and writes the body.
    assert counter.count == 1, counter.statements


async def test_append_is_the_key_and_one_numbered_write(
    rest: Rest, db: Database, backend: str
) -> None:
    session = await rest.create()
    with count_statements(db, leases=False) as counter:
        event = await rest.append(session["id"], {"type": "info", "payload": {"a": [1]}})
    assert event["sequence"] == 1 and event["payload"] == {"a": [1]}
    # PostgreSQL: one data-modifying statement; SQLite: the bump and the insert.
    assert counter.count == (2 if backend == "postgresql" else 3), counter.statements
