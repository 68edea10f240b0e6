"""Idempotency-Key over real HTTP: replays, mismatches, scope, restarts, expiry and races."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.conftest import new_key
from tests.rest.conftest import BASE, Rest, error
from tests.support.server import running_server

REUSED = error(
    "idempotency_key_reused",
    "this Idempotency-Key was already used for a different request; "
    "use a new key for a new request",
    field="Idempotency-Key",
)


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def count_sessions(rest: Rest) -> int:
    return len((await rest.get(BASE, params={"limit": 100})).json()["data"])


async def test_a_retry_replays_the_first_response_and_creates_nothing(rest: Rest) -> None:
    body = {"status": "generating", "prd": {"name": "x", "n": 1}}
    first = await rest.post(BASE, json=body, headers=keyed("create-1"))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    # The same JSON value written differently is the same request.
    again = await rest.post(
        BASE,
        content=b'{ "prd": {"n": 1, "name": "x"},   "status": "generating" }',
        headers={**keyed("create-1"), "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_sessions(rest) == 1


async def test_the_same_key_with_another_body_is_422(rest: Rest) -> None:
    assert (await rest.post(BASE, json={}, headers=keyed("k"))).status_code == 201
    other = await rest.post(BASE, json={"catalogVersion": "v2"}, headers=keyed("k"))
    assert (other.status_code, other.json()) == (422, REUSED)
    session = (await rest.get(BASE)).json()["data"][0]
    elsewhere = await rest.post(
        f"{BASE}/{session['id']}/events", json={}, headers=keyed("k")
    )  # same key on another path is another request, too (and the body is not even valid)
    assert elsewhere.status_code == 422
    reused = await rest.post(
        f"{BASE}/{session['id']}/events", json={"type": "info"}, headers=keyed("k")
    )
    assert (reused.status_code, reused.json()) == (422, REUSED)
    assert await count_sessions(rest) == 1


async def test_appends_replay_too(rest: Rest) -> None:
    session = await rest.create()
    path = f"{BASE}/{session['id']}/events"
    first = await rest.post(path, json={"type": "info", "message": "once"}, headers=keyed("e1"))
    second = await rest.post(path, json={"type": "info", "message": "once"}, headers=keyed("e1"))
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() and first.json()["sequence"] == 1
    log = (await rest.get(path)).json()["data"]
    assert [e["message"] for e in log] == ["once"]


async def test_a_failed_request_does_not_use_up_its_key(rest: Rest) -> None:
    refused = await rest.post(BASE, json={"status": "nope"}, headers=keyed("retry-me"))
    assert refused.status_code == 422
    missing = await rest.post(
        f"{BASE}/sess_0000000000000000/events", json={"type": "info"}, headers=keyed("retry-2")
    )
    assert missing.status_code == 404
    assert (await rest.post(BASE, json={}, headers=keyed("retry-me"))).status_code == 201
    assert (await rest.post(BASE, json={}, headers=keyed("retry-2"))).status_code == 201
    assert await count_sessions(rest) == 2


async def test_keys_are_scoped_per_organisation(http: httpx.AsyncClient, db: Database) -> None:
    _, key_a = await new_key(db)
    _, key_b = await new_key(db)
    a, b = Rest(http, key_a), Rest(http, key_b)
    first = await a.post(BASE, json={}, headers=keyed("shared"))
    other = await b.post(BASE, json={"catalogVersion": "b"}, headers=keyed("shared"))
    assert first.status_code == other.status_code == 201
    assert first.json()["id"] != other.json()["id"]
    assert other.json()["catalogVersion"] == "b"
    assert await count_sessions(a) == await count_sessions(b) == 1


async def test_keys_survive_a_restart_and_are_shared_by_servers(
    db: Database, database_url: str, api_key: str
) -> None:
    settings = Settings(database_url=database_url)
    async with (
        running_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        first = await Rest(http, api_key).post(BASE, json={}, headers=keyed("durable"))
    # A second server with its own engines: the key lives in the database.
    async with (
        running_server(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        rest = Rest(http, api_key)
        again = await rest.post(BASE, json={}, headers=keyed("durable"))
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert await count_sessions(rest) == 1


async def test_records_expire_after_the_retention(db: Database, api_key: str) -> None:
    settings = Settings(database_url="unused", idempotency_retention_seconds=1)
    async with (
        running_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        rest = Rest(http, api_key)
        first = await rest.post(BASE, json={}, headers=keyed("short"))
        assert (await rest.post(BASE, json={}, headers=keyed("short"))).content == first.content
        await asyncio.sleep(1.1)
        later = await rest.post(BASE, json={}, headers=keyed("short"))
        assert later.status_code == 201 and "idempotent-replayed" not in later.headers
        assert later.json()["id"] != first.json()["id"]
        assert await count_sessions(rest) == 2


async def _race(
    base_url: str, key: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(calls))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        rest = Rest(http, key)
        return await asyncio.gather(
            *(rest.post(path, json=body, headers=keyed("race")) for path, body in calls)
        )


async def test_concurrent_creates_with_one_key_make_one_session(base_url: str, rest: Rest) -> None:
    responses = await _race(base_url, rest.key, [(BASE, {"prd": {"a": 1}})] * 20)
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert await count_sessions(rest) == 1


async def test_concurrent_appends_with_one_key_make_one_event(base_url: str, rest: Rest) -> None:
    session = await rest.create()
    path = f"{BASE}/{session['id']}/events"
    responses = await _race(base_url, rest.key, [(path, {"type": "info"})] * 20)
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert [e["sequence"] for e in (await rest.get(path)).json()["data"]] == [1]


async def test_concurrent_different_bodies_with_one_key(base_url: str, rest: Rest) -> None:
    calls = [(BASE, {"catalogVersion": f"v{i}"}) for i in range(10)]
    responses = await _race(base_url, rest.key, calls)
    assert sorted(r.status_code for r in responses) == [201] + [422] * 9
    assert all(r.json() == REUSED for r in responses if r.status_code == 422)
    assert await count_sessions(rest) == 1
