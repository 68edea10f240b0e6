"""A raw graphql-transport-ws client over the `websockets` package: every frame visible."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"

EVENTS = "subscription($s: ID!, $a: Int) { sessionEvents(sessionId: $s, afterSequence: $a) { sequence } }"


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/graphql"


class Socket:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def send(self, message: Any) -> None:
        await self.conn.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, within: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(within):
            message: dict[str, Any] = json.loads(await self.conn.recv())
        return message

    async def init(self, key: str | None, **extra: Any) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {key}"} if key is not None else {}
        await self.send({"type": "connection_init", "payload": {**payload, **extra}})
        return await self.recv()

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def events(
        self, op_id: str, count: int | None = None
    ) -> tuple[list[int], dict[str, Any]]:
        """Sequences of `next` messages for `op_id`, until `complete`/`error` (or `count` seen)."""
        seen: list[int] = []
        while count is None or len(seen) < count:
            message = await self.recv()
            if message.get("id") != op_id:
                continue
            if message["type"] != "next":
                return seen, message
            payload = message["payload"]
            if payload.get("errors"):
                return seen, message
            seen.append(payload["data"]["sessionEvents"]["sequence"])
        return seen, {}

    async def closed(self, within: float = 10) -> tuple[int | None, str]:
        """Wait for the server to close; the close code and reason."""
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.conn.recv()
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return None, ""
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError("unreachable")


@asynccontextmanager
async def socket(
    base_url: str, *, subprotocols: list[str] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Socket]:
    async with connect(
        ws_url(base_url),
        subprotocols=subprotocols if subprotocols is not None else [TRANSPORT],  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
        close_timeout=2,
    ) as conn:
        yield Socket(conn)
