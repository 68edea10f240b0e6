"""Abrupt disconnects leave nothing behind: tasks, readers, feeds, connections, listeners."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.keys import set_plan
from db.live.feeds import feeds_of
from db.records import Principal
from db.store.engine import Database
from tests.support.feeds import feed_stats
from tests.support.sessions import append, new_session
from tests.support.sse import stream_path
from tests.support.ws import EVENTS, socket

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
async def generous_plan(db: Database, principal: Principal) -> None:
    """Every cycle spends the organisation's per-minute budget; these tests are about leaks."""
    await set_plan(db, principal.organization_id, max_requests_per_minute=1_000_000)


def counts(app: Starlette, db: Database) -> dict[str, Any]:
    return {
        "tasks": len(asyncio.all_tasks()),
        "sockets": len(app.state.sockets.sockets),
        "sse": app.state.streams.open,
        "checked_out": sum(engine.pool.checkedout() for engine in db.engines),  # type: ignore[attr-defined]
        "bus_listeners": len(db.bus._listeners),
        **feed_stats(feeds_of(db)),
    }


async def settle(app: Starlette, db: Database, baseline: dict[str, Any]) -> dict[str, Any]:
    """Counts once they are back at the baseline (or the last ones seen after 10 s)."""
    now = counts(app, db)
    for _ in range(200):
        if now == baseline:
            break
        await asyncio.sleep(0.05)
        now = counts(app, db)
    return now


async def test_subscribe_then_vanish_300_times(
    request: pytest.FixtureRequest,
    app: Starlette,
    base_url: str,
    http: httpx.AsyncClient,
    api_key: str,
    db: Database,
    principal: Principal,
) -> None:
    cycles = 1000 if request.config.getoption("--long") else 300
    session = await new_session(db, principal)
    await append(db, principal, session, 3)
    await asyncio.sleep(0.2)
    baseline = counts(app, db)
    for n in range(cycles):
        async with socket(base_url) as ws:
            await ws.init(api_key)
            await ws.subscribe("e", EVENTS, {"s": session})
            await ws.subscribe("u", "subscription { sessionUpdates { kind } }")
            if n % 2:
                await ws.events("e", 1)  # mid-replay for half of them
            ws.conn.transport.abort()  # no close frame: the client just disappears
        if n % 10 == 0:  # an SSE client vanishing mid-stream too
            async with http.stream(
                "GET", stream_path(session), headers={"Authorization": api_key}
            ) as r:
                async for _ in r.aiter_bytes():
                    break
    assert await settle(app, db, baseline) == baseline
    # The feed still works for whoever comes next.
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("e", EVENTS, {"s": session})
        assert (await ws.events("e", 3))[0] == [1, 2, 3]
