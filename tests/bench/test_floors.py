"""The JSON floor (the database writes the answer) answers the Python floor's exact bytes.

On each database, for q1, q2 and REST GET /:id: every session, including one with odd text
in every string and JSON column, one with 3 events and one with none; an unknown session,
another organisation's key and an unknown key.
"""

from __future__ import annotations

import httpx
import pytest

from bench.floor import create_floor
from tests.bench.conftest import BenchData


def _paths(bench: BenchData) -> list[tuple[str, str, str]]:
    """(key, Python floor path, JSON floor path) for every request compared."""
    data = bench.data
    ids = [*data.read_ids, "sess_missing"]
    paths = [(data.key, "/q2", "/json/q2")]
    for sid in ids:
        paths += [
            (data.key, f"/q1/{sid}", f"/json/q1/{sid}"),
            (data.key, f"/rest/{sid}", f"/json/rest/{sid}"),
        ]
    for key in (data.pages_key, "sgk_unknown"):  # another organisation; no organisation
        sid = data.read_ids[0]
        paths += [
            (key, f"/q1/{sid}", f"/json/q1/{sid}"),
            (key, f"/rest/{sid}", f"/json/rest/{sid}"),
            (key, "/q2", "/json/q2"),
        ]
    return paths


@pytest.mark.timeout(60)
async def test_json_floor_answers_the_python_floors_bytes(bench_data: BenchData) -> None:
    app = create_floor(bench_data.url)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://floor") as client,
    ):
        statuses = set()
        for key, python_path, json_path in _paths(bench_data):
            headers = {"Authorization": f"Bearer {key}"}
            python = await client.get(python_path, headers=headers)
            json_built = await client.get(json_path, headers=headers)
            assert json_built.status_code == python.status_code, json_path
            assert json_built.content == python.content, json_path
            assert json_built.headers["content-type"] == python.headers["content-type"]
            statuses.add(python.status_code)
        assert statuses == {200, 401, 404}
        short = (await client.get(f"/json/q1/{bench_data.short_id}", headers=headers)).json()
        assert short == {"error": "unauthenticated"}  # the last key tried was unknown
        headers = {"Authorization": f"Bearer {bench_data.data.key}"}
        short = (await client.get(f"/json/q1/{bench_data.short_id}", headers=headers)).json()
        assert len(short["data"]["session"]["events"]["nodes"]) == 3
        empty = (await client.get(f"/json/rest/{bench_data.empty_id}", headers=headers)).json()
        assert empty["events"] == []
        odd = (await client.get(f"/json/q1/{bench_data.data.read_ids[0]}", headers=headers)).json()
        assert odd["data"]["session"]["catalogVersion"].endswith(" end")
