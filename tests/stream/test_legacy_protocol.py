"""Both WebSocket protocols refuse malformed input the same way, against a real server.

graphql-transport-ws (PROTOCOL.md) closes with 4400 on a message it cannot accept; the
legacy graphql-ws protocol (subscriptions-transport-ws) has no code of its own for that,
so it gets the same 4400 and reason rather than silently dropping the frame. Request
errors follow docs/decisions.md ("Protocol strictness"): a document that does not parse
or names an unknown operation closes with 4400; validation errors are an `error` message
and the connection stays open.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.ws import LEGACY, TRANSPORT, Socket, socket

pytestmark = pytest.mark.timeout(30)

PROTOCOLS = [TRANSPORT, LEGACY]
START = {TRANSPORT: "subscribe", LEGACY: "start"}
STOP = {TRANSPORT: "complete", LEGACY: "stop"}
OK_QUERY = "{ __typename }"
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 125 bytes with the code

# Frames no protocol accepts: (label, raw text).
ANY_PROTOCOL = [
    ("not json", "not json"),
    ("truncated json", '{"type": "connection_init"'),
    ("empty text", ""),
    ("json array", "[1, 2]"),
    ("json string", '"text"'),
    ("json number", "7"),
    ("json null", "null"),
    ("empty object", "{}"),
    ("numeric type", '{"type": 7}'),
    ("null type", '{"type": null}'),
    ("unknown type", '{"type": "bogus"}'),
    ("long unknown type", '{"type": "' + "x" * 500 + '"}'),
    ("non-ascii unknown type", '{"type": "' + "é" * 200 + '"}'),
    ("data is a server message", '{"type": "data", "id": "1", "payload": {}}'),
    ("next is a server message", '{"type": "next", "id": "1", "payload": {}}'),
    ("ka is a server message", '{"type": "ka"}'),
    ("init payload a string", '{"type": "connection_init", "payload": "x"}'),
    ("init payload a list", '{"type": "connection_init", "payload": []}'),
]


def operation_frames(protocol: str) -> list[tuple[str, Any]]:
    """`start`/`subscribe` and `stop`/`complete` with each part missing or mistyped."""
    start, stop = START[protocol], STOP[protocol]
    query = {"query": OK_QUERY}
    return [
        (f"{start} without id", {"type": start, "payload": query}),
        (f"{start} with null id", {"type": start, "id": None, "payload": query}),
        (f"{start} with numeric id", {"type": start, "id": 1, "payload": query}),
        (f"{start} with empty id", {"type": start, "id": "", "payload": query}),
        (f"{start} with object id", {"type": start, "id": {"a": 1}, "payload": query}),
        (f"{start} without payload", {"type": start, "id": "1"}),
        (f"{start} with null payload", {"type": start, "id": "1", "payload": None}),
        (f"{start} with string payload", {"type": start, "id": "1", "payload": OK_QUERY}),
        (f"{start} with list payload", {"type": start, "id": "1", "payload": [query]}),
        (f"{start} without query", {"type": start, "id": "1", "payload": {}}),
        (f"{start} with numeric query", {"type": start, "id": "1", "payload": {"query": 1}}),
        (
            f"{start} with list variables",
            {"type": start, "id": "1", "payload": {**query, "variables": [1]}},
        ),
        (
            f"{start} with string variables",
            {"type": start, "id": "1", "payload": {**query, "variables": "{}"}},
        ),
        (
            f"{start} with numeric operationName",
            {"type": start, "id": "1", "payload": {**query, "operationName": 3}},
        ),
        (
            f"{start} with list extensions",
            {"type": start, "id": "1", "payload": {**query, "extensions": []}},
        ),
        (f"{stop} without id", {"type": stop}),
        (f"{stop} with numeric id", {"type": stop, "id": 1}),
    ]


def cases() -> list[Any]:
    return [
        pytest.param(protocol, frame, id=f"{protocol}-{label}")
        for protocol in PROTOCOLS
        for label, frame in [*ANY_PROTOCOL, *operation_frames(protocol)]
    ]


async def init(ws: Socket, protocol: str, key: str) -> None:
    await ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    assert (await ws.recv())["type"] == "connection_ack"


async def reply(ws: Socket, op_id: str) -> dict[str, Any]:
    """The next message about `op_id` (skipping keep-alives and other operations' ends)."""
    while (message := await ws.recv(within=10)).get("id") != op_id:
        pass
    return message


async def start(ws: Socket, protocol: str, op_id: str, query: str, **payload: Any) -> None:
    await ws.send({"type": START[protocol], "id": op_id, "payload": {"query": query, **payload}})


async def assert_closed_4400(ws: Socket) -> str:
    code, reason = await ws.closed(within=10)
    assert code == 4400, (code, reason)
    assert reason and len(reason.encode()) <= MAX_REASON_BYTES
    return reason


async def assert_still_open(ws: Socket, protocol: str) -> None:
    await start(ws, protocol, "alive", OK_QUERY)
    answer = await reply(ws, "alive")
    assert answer["payload"] == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(("protocol", "frame"), cases())
async def test_malformed_frame_after_ack_closes_4400(
    base_url: str, api_key: str, protocol: str, frame: Any
) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await ws.send(frame)
        await assert_closed_4400(ws)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "frame", ["not json", "[1]", '{"type": "bogus"}', '{"type": "connection_init", "payload": 1}']
)
async def test_malformed_frame_before_init_closes_4400(
    base_url: str, protocol: str, frame: str
) -> None:
    """Not 4401 or the 4408 init timeout: the frame itself is the problem."""
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await ws.send(frame)
        await assert_closed_4400(ws)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("acknowledged", [False, True], ids=["before-init", "after-ack"])
async def test_binary_frame_closes_4400(
    base_url: str, api_key: str, protocol: str, acknowledged: bool
) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        if acknowledged:
            await init(ws, protocol, api_key)
        await ws.send(b'{"type": "connection_init", "payload": {}}')
        assert await assert_closed_4400(ws) == "WebSocket message type must be text"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_same_reasons_on_both_protocols(base_url: str, api_key: str, protocol: str) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await ws.send("not json")
        assert await assert_closed_4400(ws) == "WebSocket message must be valid JSON"
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await ws.send({"type": "bogus"})
        assert await assert_closed_4400(ws) == "unknown message type 'bogus'"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "query",
    [
        "subscription {",
        "{ __typename",
        "}",
        "query { a(b: ) }",
        "{ " + "Ǝ" * 300 + " }",
        "query q { __typename } query q2 { " + "x" * 400,
    ],
)
async def test_syntax_error_closes_4400(
    base_url: str, api_key: str, protocol: str, query: str
) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await start(ws, protocol, "x", query)
        assert (await assert_closed_4400(ws)).startswith("Syntax Error")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        ("query a { __typename } query b { __typename }", "c"),
        ("query a { __typename }", "b"),
        ("fragment f on Query { __typename }", None),
    ],
)
async def test_unknown_operation_name_closes_4400(
    base_url: str, api_key: str, protocol: str, query: str, operation_name: str | None
) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await start(ws, protocol, "x", query, operationName=operation_name)
        await assert_closed_4400(ws)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("subscription { sessionEvents(sessionId: 1, nope: 2) { id } }", None),
        ("{ nope }", None),
        ("subscription { sessionUpdates { kind } sessionEvents(sessionId: 1) { id } }", None),
        ("query($n: Int!) { __typename }", {}),
        ("query($n: Int!) { __typename }", {"n": "not a number"}),
    ],
)
async def test_validation_errors_answer_an_error_and_keep_the_connection(
    base_url: str, api_key: str, protocol: str, query: str, variables: dict[str, Any] | None
) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await start(ws, protocol, "v", query, variables=variables)
        error = await reply(ws, "v")
        assert (error["type"], error["id"]) == ("error", "v")
        # graphql-transport-ws sends a list of errors; the legacy protocol one error object.
        errors = error["payload"] if protocol == TRANSPORT else [error["payload"]]
        assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}
        await assert_still_open(ws, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_well_formed_edge_cases_are_accepted(
    base_url: str, api_key: str, protocol: str
) -> None:
    """What the strict check must not refuse: null optionals, stopping an unknown id."""
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, protocol, api_key)
        await ws.send({"type": STOP[protocol], "id": "never-started"})
        await start(ws, protocol, "n", OK_QUERY, variables=None, operationName=None)
        answer = await reply(ws, "n")
        assert answer["payload"] == {"data": {"__typename": "Query"}}
        await assert_still_open(ws, protocol)
