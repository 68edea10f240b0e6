"""`sessiongraph demo` plays a realistic generation run through the public API."""

from __future__ import annotations

from db.records import Principal
from db.sessions import get_session, list_sessions
from db.store.engine import Database
from graph.cli.demo import run_demo
from tests.support.sessions import session_and_log


async def test_demo_seeds_and_plays_a_run(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    said: list[str] = []
    played = await run_demo(base_url, api_key, seed=4, runs=1, delay=0, say=said.append)
    page = await list_sessions(db, principal, limit=100)
    assert len(page.items) == 5
    assert {s.status for s in page.items} == {"completed", "failed", "generating", "pending"}
    run = await get_session(db, principal, played[0])
    assert run.status == "completed"
    assert run.assembly_state == {"step": "done", "progress": 100}
    assert run.product_object is not None and run.product_object_hash is not None
    _, events = await session_and_log(db, principal, run.id)
    assert {e.type for e in events} == {"debug", "info", "warning", "error"}
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert any(run.id in line and "completed" in line for line in said)
