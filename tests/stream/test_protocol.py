"""graphql-transport-ws per PROTOCOL.md, provoked frame by frame with a raw WebSocket client."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from websockets.exceptions import InvalidStatus

from db.keys import create_key, revoke_key
from db.records import Principal
from db.store.engine import Database
from tests.stream.conftest import MAX_SUBSCRIPTIONS
from tests.support.sessions import append, new_session
from tests.support.ws import EVENTS, LEGACY, TRANSPORT, socket

pytestmark = pytest.mark.timeout(30)


async def test_ack_ping_pong_and_a_subscription(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 2)
    async with socket(base_url) as ws:
        assert await ws.init(api_key) == {"type": "connection_ack"}
        await ws.send({"type": "ping", "payload": {"n": 1}})
        assert (await ws.recv())["type"] == "pong"
        await ws.send({"type": "pong"})  # unsolicited pong is allowed
        await ws.subscribe("a", EVENTS, {"s": session})
        assert (await ws.events("a", 2))[0] == [1, 2]
        await ws.send({"type": "complete", "id": "a"})
        await ws.send({"type": "complete", "id": "never-existed"})  # ignored
        await ws.subscribe("a", EVENTS, {"s": session, "a": 1})  # a completed id is free again
        assert (await ws.events("a", 1))[0] == [2]


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '"text"',
        '{"type": 7}',
        '{"type": "bogus"}',
        '{"type": "subscribe", "id": "x", "payload": "query"}',
        '{"type": "subscribe", "id": "", "payload": {"query": "{ __typename }"}}',
        '{"type": "subscribe", "id": "x", "payload": {"query": 1}}',
        '{"type": "subscribe", "id": "x", "payload": {"query": "{ a }", "variables": []}}',
        '{"type": "complete"}',
        '{"type": "ping", "payload": "x"}',
    ],
)
async def test_malformed_messages_close_4400(base_url: str, api_key: str, frame: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.send(frame)
        code, _ = await ws.closed()
        assert code == 4400


async def test_binary_frame_closes_4400(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.send(b'{"type": "ping"}')
        assert (await ws.closed())[0] == 4400


async def test_syntax_error_closes_4400(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("x", "subscription {")
        assert (await ws.closed())[0] == 4400


async def test_subscribe_before_ack_closes_4401(base_url: str) -> None:
    async with socket(base_url) as ws:
        await ws.subscribe("x", "subscription { sessionUpdates { kind } }")
        assert (await ws.closed())[0] == 4401


@pytest.mark.parametrize("key", [None, "sgk_not_a_real_key", ""])
async def test_bad_or_missing_key_closes_4403(base_url: str, key: str | None) -> None:
    async with socket(base_url) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": key} if key else {}})
        assert (await ws.closed())[0] == 4403


async def test_unknown_subprotocol_closes_4406(base_url: str) -> None:
    async with socket(base_url, subprotocols=["graphql-sse-nope"]) as ws:
        assert (await ws.closed())[0] == 4406


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_no_init_in_time_closes_4408(base_url: str, protocol: str) -> None:
    async with socket(base_url, subprotocols=[protocol]) as ws:
        assert (await ws.closed())[0] == 4408


async def test_duplicate_id_closes_4409(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("same", "subscription { sessionUpdates { kind } }")
        await ws.subscribe("same", "subscription { sessionUpdates { kind } }")
        code, reason = await ws.closed()
        assert (code, reason) == (4409, "Subscriber for same already exists")


async def test_second_init_closes_4429(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.send({"type": "connection_init", "payload": {"Authorization": api_key}})
        assert (await ws.closed())[0] == 4429


async def test_null_init_payload_with_header_key(base_url: str, api_key: str) -> None:
    """PROTOCOL.md allows `payload: null`; the key may come from the upgrade request."""
    async with socket(base_url, headers={"Authorization": f"Bearer {api_key}"}) as ws:
        await ws.send({"type": "connection_init", "payload": None})
        assert await ws.recv() == {"type": "connection_ack"}


async def test_bare_key_in_payload(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.send({"type": "connection_init", "payload": {"authorization": api_key}})
        assert await ws.recv() == {"type": "connection_ack"}


async def test_operations_per_connection_are_bounded(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        for n in range(MAX_SUBSCRIPTIONS):
            await ws.subscribe(f"s{n}", "subscription { sessionUpdates { kind } }")
        await ws.subscribe("over", "subscription { sessionUpdates { kind } }")
        refused = await ws.recv()
        assert refused["id"] == "over" and refused["type"] == "error"
        assert refused["payload"][0]["extensions"] == {
            "code": "RATE_LIMITED",
            "reason": "MAX_SUBSCRIPTIONS",
        }
        await ws.send({"type": "complete", "id": "s0"})
        await asyncio.sleep(0.05)
        await ws.subscribe("again", "{ __typename }")  # a slot is free again
        assert (await ws.recv())["payload"] == {"data": {"__typename": "Query"}}


async def test_queries_and_mutations_run_over_the_socket(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("m", "mutation { createSession(input: {}) { status } }")
        assert await ws.recv() == {
            "id": "m",
            "type": "next",
            "payload": {"data": {"createSession": {"status": "PENDING"}}},
        }
        assert await ws.recv() == {"id": "m", "type": "complete"}


async def test_validation_errors_are_coded(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        await ws.init(api_key)
        await ws.subscribe("v", "subscription { sessionEvents(sessionId: 1, nope: 2) { id } }")
        error = await ws.recv()
        assert error["type"] == "error"
        assert {e["extensions"]["code"] for e in error["payload"]} == {"BAD_USER_INPUT"}
        await ws.subscribe("n", EVENTS, {"s": "sess_0123456789abcdef", "a": -1})
        negative = await ws.recv()
        assert negative["payload"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "afterSequence",
        }


async def test_no_trailing_slash_redirect(base_url: str) -> None:
    with pytest.raises(InvalidStatus):
        async with socket(base_url + "/"):
            pass


async def test_legacy_protocol_accepts_operations_only_after_init(
    base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 3)
    async with socket(base_url, subprotocols=[LEGACY]) as ws:
        await ws.send({"type": "start", "id": "1", "payload": {"query": EVENTS}})
        assert (await ws.closed())[0] == 4401
    async with socket(base_url, subprotocols=[LEGACY]) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": "nope"}})
        assert (await ws.recv())["type"] == "connection_error"
    async with socket(base_url, subprotocols=[LEGACY]) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": api_key}})
        assert (await ws.recv())["type"] == "connection_ack"
        await ws.send(
            {"type": "start", "id": "1", "payload": {"query": EVENTS, "variables": {"s": session}}}
        )
        sequences = []
        while len(sequences) < 3:
            message = await ws.recv()
            if message["type"] == "data":
                sequences.append(message["payload"]["data"]["sessionEvents"]["sequence"])
        assert sequences == [1, 2, 3]
        # A validation error is an `error` message (a syntax error closes: see
        # test_legacy_protocol.py); the connection goes on.
        await ws.send({"type": "start", "id": "2", "payload": {"query": "subscription { nope }"}})
        while (message := await ws.recv())["type"] == "ka":
            pass
        assert message["type"] == "error" and message["id"] == "2"
        await ws.send({"type": "start", "id": "3", "payload": {"query": "{ __typename }"}})
        while (message := await ws.recv())["type"] == "ka":
            pass
        assert message == {"type": "data", "id": "3", "payload": {"data": {"__typename": "Query"}}}
        await ws.send('{"type": 3}')
        assert (await ws.closed())[0] == 4400


async def test_a_revoked_key_starts_nothing_more(base_url: str, db: Database) -> None:
    record, secret = await create_key(db, "org_" + secrets.token_hex(6), "user_r")
    async with socket(base_url) as ws:
        await ws.init(secret)
        await ws.subscribe("a", "{ __typename }")
        assert (await ws.recv())["type"] == "next"
        await revoke_key(db, record.id)
        await ws.subscribe("b", "{ __typename }")
        assert (await ws.closed()) == (4403, "Forbidden: the API key was revoked")
