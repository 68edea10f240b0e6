"""Kill the server with SIGKILL while writers run at full speed: nothing acknowledged is lost.

Each round starts a real `sessiongraph serve`, lets writers create sessions and append
events as fast as the server answers, kills it at a random moment and starts it again.
Afterwards every event that got a success response must be stored with the sequence it
was acknowledged with, each session's sequences must run 1..N without a gap, and on
SQLite the file must pass `PRAGMA integrity_check`. Short by default; `--long` runs
four times as many rounds.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from db.keys import set_plan
from db.models import events, sessions
from db.store.engine import Database
from db.store.migrate import upgrade_to_head
from tests.conftest import new_key
from tests.support.databases import fresh_sqlite_database
from tests.support.processes import ServerProcess

CREATE = "mutation { createSession(input: {status: GENERATING}) { id } }"
APPEND = (
    "mutation($s: ID!, $m: String!) { appendEvent(sessionId: $s, "
    "input: {type: INFO, message: $m}) { id sequence } }"
)
WRITERS = 6
SEED = 20261129


@dataclass
class Acknowledged:
    sessions: set[str] = field(default_factory=set)
    events: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # id -> (s, seq, msg)
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set by each acknowledgement


async def write_until_killed(url: str, key: str, seen: Acknowledged, writer: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        try:
            response = await http.post("/graphql", json={"query": CREATE})
            session_id = response.json()["data"]["createSession"]["id"]
            seen.sessions.add(session_id)
            n = 0
            while True:
                n += 1
                message = f"w{writer}-{n}"
                response = await http.post(
                    "/graphql", json={"query": APPEND, "variables": {"s": session_id, "m": message}}
                )
                body = response.json()
                assert response.status_code == 200 and "errors" not in body, body
                event = body["data"]["appendEvent"]
                seen.events[event["id"]] = (session_id, event["sequence"], message)
                seen.progress.set()
        except (httpx.TransportError, ValueError):
            return  # the server died mid-request: that write was never acknowledged


async def one_round(server: ServerProcess, key: str, seen: Acknowledged, rng: random.Random) -> int:
    await asyncio.to_thread(server.start)
    before = len(seen.events)
    seen.progress = asyncio.Event()
    writers = [
        asyncio.create_task(write_until_killed(server.url, key, seen, i)) for i in range(WRITERS)
    ]
    # Kill at a random moment once writing is under way (a cold start takes a while).
    async with asyncio.timeout(60):
        await seen.progress.wait()
    await asyncio.sleep(rng.uniform(0.0, 1.2))
    await asyncio.to_thread(server.kill)
    async with asyncio.timeout(60):
        await asyncio.gather(*writers)
    return len(seen.events) - before


async def check_stored(db: Database, seen: Acknowledged) -> None:
    async with db.read() as conn:
        stored_sessions = {
            r.id: r.last_sequence
            for r in await conn.execute(
                sa.select(sessions.c.id, sessions.c.last_sequence).where(
                    sessions.c.id.in_(sorted(seen.sessions))
                )
            )
        }
        rows = (
            await conn.execute(
                sa.select(events.c.id, events.c.session_id, events.c.sequence, events.c.message)
                .where(events.c.session_id.in_(sorted(seen.sessions)))
                .order_by(events.c.session_id, events.c.sequence)
            )
        ).all()
    assert set(stored_sessions) == seen.sessions
    stored = {r.id: (r.session_id, r.sequence, r.message) for r in rows}
    lost = {i: e for i, e in seen.events.items() if stored.get(i) != e}
    assert not lost, f"{len(lost)} acknowledged events lost or changed"
    for session_id, last in stored_sessions.items():
        sequences = [r.sequence for r in rows if r.session_id == session_id]
        assert sequences == list(range(1, last + 1)), session_id


async def kill_loop(
    database_url: str, db: Database, tmp_path: Path, rounds: int, **server_env: str
) -> list[int]:
    """Returns how many events were acknowledged in each round."""
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=1_000_000)
    rng = random.Random(SEED)
    seen = Acknowledged()
    server = ServerProcess(database_url, tmp_path, **server_env)
    try:
        acknowledged_per_round = [await one_round(server, key, seen, rng) for _ in range(rounds)]
    finally:
        server.stop()
    assert all(n > 0 for n in acknowledged_per_round), acknowledged_per_round
    await check_stored(db, seen)
    if db.is_sqlite:
        async with db.read() as conn:
            assert (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar() == "ok"
    return acknowledged_per_round


def rounds_for(request: pytest.FixtureRequest, short: int) -> int:
    return short * 4 if request.config.getoption("--long") else short


@pytest.mark.timeout(900)
async def test_sigkill_loses_no_acknowledged_write(
    database_url: str, db: Database, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await kill_loop(database_url, db, tmp_path, rounds_for(request, 3))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("synchronous", ["OFF", "NORMAL", "EXTRA"])
async def test_every_sqlite_synchronous_setting_survives_a_process_kill(
    synchronous: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """README promises that a process crash loses nothing under any setting (WAL mode)."""
    with fresh_sqlite_database(tmp_path) as url:
        db = Database(url)
        try:
            await upgrade_to_head(db)
            await kill_loop(
                url, db, tmp_path, rounds_for(request, 2), sqlite_synchronous=synchronous
            )
        finally:
            await db.dispose()
