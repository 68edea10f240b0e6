"""A client's JSON comes back as the server parsed it, byte for byte, on both engines and
every door: a create's or append's answer equals every later read of the same thing."""

from __future__ import annotations

import json
from typing import Any

import orjson

from tests.db.test_json_fidelity import FIDELITY_TEXT
from tests.rest.conftest import BASE, Rest
from tests.support.graphql import GraphQLClient
from tests.support.sse import stream_path

FIELDS = ("assemblyState", "prd", "productObject")
# What the server writes back: the client's text parsed (key order kept, floats as
# floats, -0.0 signed) and written by orjson.
EXPECTED = orjson.dumps(json.loads(FIDELITY_TEXT))
OTHER_TEXT = '{"b":{"d":-0.0,"c":1e19},"a":[1.0,-0,{"z":0,"y":1}]}'


def _parsed(text: str | bytes) -> Any:
    """Python's json keeps order, float vs int and the sign of zero, as the server does."""
    return json.loads(text)


def _bytes(value: Any) -> bytes:
    return orjson.dumps(value)


async def _sse_event_data(rest: Rest, session_id: str) -> list[bytes]:
    """The `data:` lines of the stream's events, as sent. Split on LF alone, as SSE does:
    httpx's `aiter_lines` would also split at the U+2028 inside the payload."""
    async with rest.http.stream("GET", stream_path(session_id), headers=rest.headers()) as sse:
        assert sse.status_code == 200
        raw = b"".join([chunk async for chunk in sse.aiter_bytes()])
    lines: list[bytes] = []
    kind = b""
    for line in raw.split(b"\n"):
        if line.startswith(b"event: "):
            kind = line.removeprefix(b"event: ")
        elif line.startswith(b"data: ") and kind == b"event":
            lines.append(line.removeprefix(b"data: "))
    return lines


async def test_rest_answers_and_reads_agree_byte_for_byte(rest: Rest) -> None:
    body = "{" + ",".join(f'"{field}":{FIDELITY_TEXT}' for field in FIELDS) + "}"
    created = await rest.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    got = await rest.get(f"{BASE}/{session_id}")
    assert got.content == created.content
    for field in FIELDS:
        assert _bytes(_parsed(created.content)[field]) == EXPECTED
    [listed] = _parsed((await rest.get(BASE)).content)["data"]
    assert _bytes(listed) == _bytes(
        {k: v for k, v in _parsed(created.content).items() if k != "events"}
    )

    patch = f'{{"prd":{OTHER_TEXT}}}'
    updated = await rest.patch(
        f"{BASE}/{session_id}", content=patch, headers={"Content-Type": "application/json"}
    )
    assert updated.status_code == 200, updated.text
    assert _bytes(_parsed(updated.content)["prd"]) == orjson.dumps(json.loads(OTHER_TEXT))
    assert (await rest.get(f"{BASE}/{session_id}")).content == updated.content

    appended = []
    for payload, key in ((FIDELITY_TEXT, None), (OTHER_TEXT, "fidelity-append")):
        headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
        response = await rest.post(
            f"{BASE}/{session_id}/events",
            content=f'{{"type":"info","payload":{payload}}}',
            headers=headers,
        )
        assert response.status_code == 201, response.text
        assert _bytes(_parsed(response.content)["payload"]) == orjson.dumps(json.loads(payload))
        appended.append(response.content)
    events_page = _parsed((await rest.get(f"{BASE}/{session_id}/events")).content)["data"]
    assert [_bytes(e) for e in events_page] == [_bytes(_parsed(a)) for a in appended]
    whole = _parsed((await rest.get(f"{BASE}/{session_id}")).content)
    assert [_bytes(e) for e in whole["events"]] == [_bytes(_parsed(a)) for a in appended]
    await rest.patch(f"{BASE}/{session_id}", json={"status": "completed"})
    streamed = await _sse_event_data(rest, session_id)
    # SSE writes the event's fields in an order of its own; the payload is what matters.
    assert [_parsed(s) for s in streamed] == [_parsed(a) for a in appended]
    assert [_bytes(_parsed(s)["payload"]) for s in streamed] == [
        _bytes(_parsed(a)["payload"]) for a in appended
    ]


async def test_graphql_answers_and_reads_agree_byte_for_byte(
    gql: GraphQLClient, rest: Rest
) -> None:
    create = (
        '{"query":"mutation($i: CreateSessionInput!) { createSession(input: $i)'
        ' { id assemblyState prd productObject } }","variables":{"i":{'
        + ",".join(f'"{field}":{FIDELITY_TEXT}' for field in FIELDS)
        + "}}}"
    )
    headers = {**gql.headers(), "Content-Type": "application/json"}
    created = (await gql.http.post("/graphql", content=create, headers=headers)).content
    session = _parsed(created)["data"]["createSession"]
    for field in FIELDS:
        assert _bytes(session[field]) == EXPECTED
    query = (
        "mutation($s: ID!, $i: AppendEventInput!) { appendEvent(sessionId: $s, input: $i)"
        " { payload } }"
    )
    variables = f'{{"s":"{session["id"]}","i":{{"type":"INFO","payload":{OTHER_TEXT}}}}}'
    append = f'{{"query":{json.dumps(query)},"variables":{variables}}}'
    appended = _parsed((await gql.http.post("/graphql", content=append, headers=headers)).content)
    assert _bytes(appended["data"]["appendEvent"]["payload"]) == orjson.dumps(
        json.loads(OTHER_TEXT)
    )
    read = await gql.http.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { session(id: $id) { id assemblyState prd productObject"
            " events { nodes { payload } } } sessions { nodes { id assemblyState prd productObject } } }",
            "variables": {"id": session["id"]},
        },
        headers=gql.headers(),
    )
    data = _parsed(read.content)["data"]
    events = data["session"].pop("events")
    assert _bytes(data["session"]) == _bytes(session)
    assert [_bytes(n) for n in data["sessions"]["nodes"]] == [_bytes(session)]
    assert _bytes(events["nodes"][0]["payload"]) == orjson.dumps(json.loads(OTHER_TEXT))
    # And REST shows what GraphQL stored, the same way.
    got = _parsed((await rest.get(f"{BASE}/{session['id']}")).content)
    assert [_bytes(got[f]) for f in FIELDS] == [EXPECTED] * 3
