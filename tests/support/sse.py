"""A small Server-Sent Events reader over httpx: frames as (event, id, data) tuples."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Frame:
    event: str
    id: str | None
    data: Any
    comment: bool = False


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    event, event_id, data = "message", None, []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Frame(event, event_id, json.loads("\n".join(data)))
            event, event_id, data = "message", None, []
        elif line.startswith(":"):
            yield Frame("", None, None, comment=True)
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)


def stream_path(session_id: str) -> str:
    return f"/v1/products/generation/sessions/{session_id}/events/stream"
