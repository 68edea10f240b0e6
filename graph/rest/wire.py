"""Reading a REST request: content type, size, JSON, and the conditional headers.

Each failure is a `RequestRejected` with the status a client expects for it: 415 for a
body that is not `application/json`, 413 past the size limit (checked while reading, so a
huge body is never held in memory), 400 for text that is not a JSON object.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from db.idempotency import MAX_KEY_LENGTH
from graph.rest.errors import RequestRejected

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _content_type_is_json(value: str | None) -> bool:
    media_type = (value or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestRejected:
    return RequestRejected(
        413, "payload_too_large", f"the request body is larger than {limit} bytes"
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or the 4xx that says why it is not one."""
    if not _content_type_is_json(request.headers.get("content-type")):
        raise RequestRejected(
            415,
            "unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    raw = await read_body(request, limit)
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=_finite, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise RequestRejected(
            400, "malformed_json", f"the body is not valid JSON: {error}"
        ) from None
    if not isinstance(value, dict):
        raise RequestRejected(400, "malformed_json", "the body must be a JSON object")
    return value


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise RequestRejected(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} characters",
            field=IDEMPOTENCY_HEADER,
        )
    return key


def entity_tags(value: str | None) -> list[str] | None:
    """The tags of `If-Match` / `If-None-Match` (`*` stays `*`); None when absent."""
    if value is None:
        return None
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def none_match(tags: list[str] | None, etag: str) -> bool:
    """`If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`."""
    if tags is None:
        return False
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)
