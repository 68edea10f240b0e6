"""Deeply nested JSON in WebSocket frames: a coded answer or a clean 4400, never a crash.

Frames are decoded with orjson, which refuses objects and arrays nested past 1024 levels
with an error instead of recursing (the standard library's parser raised RecursionError
inside Strawberry's frame loop: an ERROR log and a connection dropped without a close
frame). So, on both protocols, against a real server:

- a frame nested past 1024 levels closes with 4400 and a reason that says so, before or
  after `connection_init`;
- a frame the parser reads whose variables nest past the 64-level JSON rule
  (db/validation.py) is answered BAD_USER_INPUT and stores nothing; the socket stays open.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from db.store.engine import Database
from tests.conftest import new_key
from tests.support.ws import LEGACY, TRANSPORT, Socket, socket

pytestmark = pytest.mark.timeout(60)

PROTOCOLS = [TRANSPORT, LEGACY]
START = {TRANSPORT: "subscribe", LEGACY: "start"}
RESULT = {TRANSPORT: "next", LEGACY: "data"}
CREATE = "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }"
TOO_DEEP = "WebSocket message nests objects and arrays more than 1024 levels deep"
# The frame's own levels above `prd`: the message, its payload, variables, input.
FRAME_LEVELS = 4
PARSER_LIMIT = 1024


def nested(depth: int, shape: str) -> str:
    """`depth` levels of JSON: objects (`{"a":{"a":…{}}}`), or an object holding arrays
    (`{"a":[[…[]]]}`; `prd` must be an object, so only the levels below it are arrays)."""
    if shape == "objects":
        return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
    return '{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def create_frame(protocol: str, prd: str) -> str:
    """Written by hand: the standard library cannot encode what it cannot decode."""
    return (
        f'{{"type":"{START[protocol]}","id":"deep","payload":{{"query":{json.dumps(CREATE)},'
        f'"variables":{{"input":{{"prd":{prd}}}}}}}}}'
    )


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def errors_logged() -> Iterator[list[str]]:
    """ERROR records of the process, uvicorn's "Exception in ASGI application" included
    (the `uvicorn` logger does not propagate to the root)."""
    handler = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.errors
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def init(ws: Socket, key: str) -> None:
    await ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    assert (await ws.recv())["type"] == "connection_ack"


async def reply(ws: Socket, op_id: str) -> dict[str, Any]:
    while (message := await ws.recv(within=15)).get("id") != op_id:
        pass
    return message


async def assert_still_open(ws: Socket, protocol: str) -> None:
    await ws.send({"type": START[protocol], "id": "alive", "payload": {"query": "{ __typename }"}})
    assert (await reply(ws, "alive"))["payload"] == {"data": {"__typename": "Query"}}


async def session_count(base_url: str, key: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ sessions { totalCount } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
    count: int = response.json()["data"]["sessions"]["totalCount"]
    return count


# Depths of `prd`: past the 64-level rule, near the parser's limit on either side of it
# (the frame adds its own levels), and far past it (10,000 and 100,000: 40 KB and 400 KB
# frames, well under the frame size limit).
READABLE = [65, 1000, PARSER_LIMIT - FRAME_LEVELS]
UNREADABLE = [PARSER_LIMIT - FRAME_LEVELS + 1, 10_000, 100_000]


@pytest.mark.parametrize("shape", ["objects", "arrays"])
@pytest.mark.parametrize("depth", READABLE)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_variables_past_the_json_rule_are_bad_user_input(
    base_url: str, db: Database, protocol: str, depth: int, shape: str
) -> None:
    _, key = await new_key(db)
    with errors_logged() as errors:
        async with socket(base_url, subprotocols=[protocol]) as ws:
            await init(ws, key)
            await ws.send(create_frame(protocol, nested(depth, shape)))
            answer = await reply(ws, "deep")
            assert answer["type"] == RESULT[protocol]
            assert answer["payload"]["data"] is None
            [error] = answer["payload"]["errors"]
            assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "prd"}
            assert error["message"].startswith("prd is nested more than 64 levels deep")
            await assert_still_open(ws, protocol)
    assert errors == []
    assert await session_count(base_url, key) == 0


@pytest.mark.parametrize("shape", ["objects", "arrays"])
@pytest.mark.parametrize("depth", UNREADABLE)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_frames_nested_past_the_parser_limit_close_4400(
    base_url: str, db: Database, protocol: str, depth: int, shape: str
) -> None:
    _, key = await new_key(db)
    with errors_logged() as errors:
        async with socket(base_url, subprotocols=[protocol]) as ws:
            await init(ws, key)
            await ws.send(create_frame(protocol, nested(depth, shape)))
            assert await ws.closed() == (4400, TOO_DEEP)
    assert errors == []
    assert await session_count(base_url, key) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_deep_frame_before_init_closes_4400(base_url: str, protocol: str) -> None:
    """Not the 4408 init timeout, nor a crash: the frame is the problem."""
    frame = '{"type":"connection_init","payload":{"a":' + "[" * 100_000 + "]" * 100_000 + "}}"
    with errors_logged() as errors:
        async with socket(base_url, subprotocols=[protocol]) as ws:
            await ws.send(frame)
            assert await ws.closed() == (4400, TOO_DEEP)
    assert errors == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_other_malformed_frames_keep_their_reason(
    base_url: str, api_key: str, protocol: str
) -> None:
    """Only depth has its own reason; JSON the standard library took but JSON does not
    allow (NaN) is invalid JSON like any other, as on the HTTP door."""
    async with socket(base_url, subprotocols=[protocol]) as ws:
        await init(ws, api_key)
        await ws.send('{"type":"' + START[protocol] + '","id":"n","payload":{"query":NaN}}')
        assert await ws.closed() == (4400, "WebSocket message must be valid JSON")
