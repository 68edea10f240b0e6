"""PostGraphile v5, the bench's peer, answers q1 and q2 with our sessions and events.

Starts it once on a small PostgreSQL data set (its packages installed with `npm ci` if
need be; skipped only where Node or npm is missing) and compares its answers, renamed into
ours, with the floor's (whose JSON the harness checks against the server's).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import pytest

from bench import peer
from bench.floor import create_floor
from tests.bench.conftest import ODD_TEXT, BenchData


async def _floor_answers(bench: BenchData, paths: list[str]) -> list[Any]:
    app = create_floor(bench.url)
    headers = {"Authorization": f"Bearer {bench.data.key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as client,
    ):
        return [(await client.get(path, headers=headers)).json() for path in paths]


def test_as_ours_renames_but_leaves_json_values_alone() -> None:
    theirs = {
        "data": {
            "sessionByRowId": {
                "rowId": "sess_1",
                "status": "generating",
                "productObject": {"type": "text-generation", "createdAt": "whenever"},
                "createdAt": "2024-06-10T09:15:30.123456+00:00",
                "lastSequence": 1,
                "eventsBySessionId": {"nodes": [{"rowId": "evt_1", "type": "info"}]},
            }
        }
    }
    assert peer.as_ours(theirs) == {
        "data": {
            "session": {
                "id": "sess_1",
                "status": "GENERATING",
                "productObject": {"type": "text-generation", "createdAt": "whenever"},
                "createdAt": "2024-06-10T09:15:30.123Z",
                "eventCount": 1,
                "events": {"nodes": [{"id": "evt_1", "type": "INFO"}]},
            }
        }
    }


@pytest.mark.timeout(240)
@pytest.mark.parametrize("bench_data", ["postgresql"], indirect=True)
def test_postgraphile_answers_our_sessions_and_events(bench_data: BenchData) -> None:
    reason = peer.unavailable()
    if reason is not None:
        pytest.skip(reason)
    odd, normal = bench_data.data.read_ids[0], bench_data.data.read_ids[5]
    ids = [odd, normal, bench_data.short_id, bench_data.empty_id]
    ours = asyncio.run(_floor_answers(bench_data, [*(f"/q1/{sid}" for sid in ids), "/q2"]))
    requests = [peer.graphql(peer.Q1, {"id": sid}) for sid in ids] + [peer.graphql(peer.Q2)]
    with (
        peer.running(bench_data.url, within=60) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        theirs = [
            client.post(r.path, content=r.body, headers=dict(r.headers)).json() for r in requests
        ]
    for name, mine, peers in zip(["q1"] * len(ids) + ["q2"], ours, theirs, strict=True):
        assert peer.differences(name, mine, peers) is None
    q2 = peer.as_ours(theirs[-1])["data"]["sessions"]["nodes"]
    assert len(q2) == 20
    assert {len(node["events"]["nodes"]) for node in q2} == {20}
    first = peer.as_ours(theirs[0])["data"]["session"]
    assert first["catalogVersion"] == ODD_TEXT and len(first["events"]["nodes"]) == 20

    fewer = copy.deepcopy(theirs[1])
    fewer["data"]["sessionByRowId"]["eventsBySessionId"]["nodes"].pop()
    assert "differs in size: 1 sessions and 19 events, the server's 1 and 20" in str(
        peer.differences("q1", ours[1], fewer)
    )
    changed = copy.deepcopy(theirs[-1])
    changed["data"]["allSessions"]["nodes"][3]["eventsBySessionId"]["nodes"][4]["message"] = "x"
    assert ".data.sessions.nodes[3].events.nodes[4].message" in str(
        peer.differences("q2", ours[-1], changed)
    )
