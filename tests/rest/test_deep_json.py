"""REST: JSON fields nested past 64 levels are a 422 naming the field, before anything is
stored, on create, update and event append (with and without an Idempotency-Key); a body
too deep to parse is a 400; a value at the limit reads back on every door."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.db.test_deep_json import LIMIT, nested, nested_text, too_deep
from tests.rest.conftest import BASE, Rest
from tests.support.graphql import GraphQLClient
from tests.support.sse import frames, stream_path

JSON = {"Content-Type": "application/json"}
FIELDS = ("assemblyState", "prd", "productObject")


async def _send(rest: Rest, method: str, path: str, body: str, key: str | None = None) -> Any:
    headers = {**JSON, **({"Idempotency-Key": key} if key else {})}
    return await rest.request(method, path, content=body, headers=headers)


async def _session_ids(rest: Rest) -> list[str]:
    response = await rest.get(BASE, params={"limit": 100})
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["data"]]


@pytest.mark.parametrize("depth", [LIMIT - 1, LIMIT])
async def test_writes_up_to_the_limit_are_stored(rest: Rest, depth: int) -> None:
    session = await rest.create()
    for number, field in enumerate(FIELDS):
        text = f'{{"{field}":{nested_text(depth)}}}'
        for key in (None, f"create-{field}-{depth}"):
            created = await _send(rest, "POST", BASE, text, key)
            assert created.status_code == 201, created.text
            assert created.json()[field] == nested(depth)
        updated = await _send(rest, "PATCH", f"{BASE}/{session['id']}", text)
        assert updated.status_code == 200, updated.text
        assert updated.json()[field] == nested(depth)
        key = f"append-{depth}" if number else None
        appended = await _send(
            rest,
            "POST",
            f"{BASE}/{session['id']}/events",
            f'{{"type":"info","payload":{nested_text(depth)}}}',
            key,
        )
        assert appended.status_code == 201, appended.text
        assert appended.json()["payload"] == nested(depth)


@pytest.mark.parametrize("depth", [LIMIT + 1, LIMIT + 2, 100, 200, 254, 255, 300, 600])
async def test_writes_past_the_limit_are_refused(rest: Rest, depth: int) -> None:
    session = await rest.create({"prd": {"kept": 1}})
    for field in FIELDS:
        text = f'{{"{field}":{nested_text(depth)}}}'
        for key in (None, f"create-{field}-{depth}"):
            response = await _send(rest, "POST", BASE, text, key)
            assert response.status_code == 422, response.text
            assert response.json() == {
                "error": {"code": "invalid_input", "message": too_deep(field), "field": field}
            }
        response = await _send(rest, "PATCH", f"{BASE}/{session['id']}", text)
        assert (response.status_code, response.json()["error"]["field"]) == (422, field)
    for key in (None, f"append-{depth}"):
        response = await _send(
            rest,
            "POST",
            f"{BASE}/{session['id']}/events",
            f'{{"type":"info","payload":{nested_text(depth)}}}',
            key,
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"] == {
            "code": "invalid_input",
            "message": too_deep("payload"),
            "field": "payload",
        }
    # Nothing was stored: one session, unchanged, without events; the keys stay free.
    assert await _session_ids(rest) == [session["id"]]
    assert (await rest.get(f"{BASE}/{session['id']}")).json() == session
    retried = await _send(rest, "POST", BASE, '{"prd":{"a":1}}', f"create-prd-{depth}")
    assert retried.status_code == 201, retried.text


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
async def test_bodies_too_deep_to_parse_are_malformed(rest: Rest, depth: int) -> None:
    session = await rest.create()
    for method, path, text in _deep_writes(session["id"], depth):
        for key in (None, "deep") if method == "POST" else (None,):
            response = await _send(rest, method, path, text, key)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "malformed_json"
    assert await _session_ids(rest) == [session["id"]]
    assert (await rest.get(f"{BASE}/{session['id']}")).json() == session


async def test_the_deepest_body_the_parser_takes_is_refused_cleanly(rest: Rest) -> None:
    """Near Python's recursion limit the body still parses, but anything recursive done
    with it afterwards (the Idempotency-Key fingerprint) would overflow: the depth rule
    must answer first. Where that edge lies depends on the stack, so it is searched for."""
    session = await rest.create()
    for index in range(3):
        low, high = LIMIT + 1, 100_000  # answered 422 and 400
        while high - low > 1:
            middle = (low + high) // 2
            method, path, text = _deep_writes(session["id"], middle)[index]
            response = await _send(rest, method, path, text, "edge" if method == "POST" else None)
            assert response.status_code in (400, 422), response.text
            low, high = (middle, high) if response.status_code == 422 else (low, middle)
        assert low > 500  # the parser itself takes far more than the limit
    assert await _session_ids(rest) == [session["id"]]


def _deep_writes(session_id: str, depth: int) -> list[tuple[str, str, str]]:
    deep = nested_text(depth)
    return [
        ("POST", BASE, f'{{"prd":{deep}}}'),
        ("PATCH", f"{BASE}/{session_id}", f'{{"productObject":{deep}}}'),
        ("POST", f"{BASE}/{session_id}/events", f'{{"type":"info","payload":{deep}}}'),
    ]


async def test_a_value_at_the_limit_reads_back_on_every_door(
    rest: Rest, gql: GraphQLClient
) -> None:
    """REST get, list and events, SSE, and GraphQL's session, list, node and events."""
    values = {
        "assemblyState": nested(LIMIT, "mixed"),
        "prd": nested(LIMIT, "objects"),
        "productObject": nested(LIMIT, "wide"),
    }
    payload = nested(LIMIT, "arrays")
    created = await rest.create(values)
    session_id = created["id"]
    await rest.append(session_id, {"type": "info", "payload": payload})
    finished = await rest.patch(f"{BASE}/{session_id}", json={"status": "completed"})
    assert finished.status_code == 200, finished.text

    got = (await rest.get(f"{BASE}/{session_id}")).json()
    assert {f: got[f] for f in FIELDS} == values and got["events"][0]["payload"] == payload
    [listed] = (await rest.get(BASE)).json()["data"]
    assert {f: listed[f] for f in FIELDS} == values
    for query in ({}, {"status": "completed"}):
        [listed] = (await rest.get(BASE, params=query)).json()["data"]
        assert listed["prd"] == values["prd"]
    [event] = (await rest.get(f"{BASE}/{session_id}/events")).json()["data"]
    assert event["payload"] == payload
    async with rest.http.stream("GET", stream_path(session_id), headers=rest.headers()) as sse:
        assert sse.status_code == 200
        streamed = [frame async for frame in frames(sse) if frame.event == "event"]
    assert [frame.data["payload"] for frame in streamed] == [payload]

    fields = (
        "assemblyState prd productObject events { nodes { payload } edges { node { payload } } }"
    )
    data = await gql.data(
        f"""query($id: ID!) {{ session(id: $id) {{ {fields} }}
            node(id: $id) {{ ... on Session {{ prd }} }}
            sessions {{ nodes {{ {fields} }} edges {{ node {{ productObject }} }} }}
            completed: sessions(filter: {{status: [COMPLETED]}}) {{ nodes {{ assemblyState }} }} }}""",
        {"id": session_id},
    )
    expected = {
        **values,
        "events": {"nodes": [{"payload": payload}], "edges": [{"node": {"payload": payload}}]},
    }
    assert data["session"] == expected
    assert data["node"] == {"prd": values["prd"]}
    assert data["sessions"]["nodes"] == [expected]
    assert data["sessions"]["edges"] == [{"node": {"productObject": values["productObject"]}}]
    assert data["completed"]["nodes"] == [{"assemblyState": values["assemblyState"]}]
    assert orjson.loads(orjson.dumps(data))  # the whole answer is writable again
