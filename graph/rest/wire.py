"""Reading a REST request: its query string, body (415 unless JSON, 413 past the size limit,
400 unless a JSON object) and headers."""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel
from starlette.requests import Request

from db.idempotency import MAX_KEY_LENGTH
from graph.http.request import RequestRefused, read_body
from graph.rest.errors import RequestRejected

IDEMPOTENCY_HEADER = "Idempotency-Key"
M = TypeVar("M", bound=BaseModel)


def parse_query(model: type[M], request: Request) -> M:
    """Repeatable parameters (lists) take every value; others the last one given."""
    params = request.query_params
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias in params:
            repeats = any(
                get_origin(a) is list for a in (info.annotation, *get_args(info.annotation))
            )
            values[alias] = params.getlist(alias) if repeats else params[alias]
    return model.model_validate(values)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or the 4xx that says why it is not one."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise RequestRejected(
            415,
            "unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    try:
        raw = await read_body(request, limit)
    except RequestRefused as refused:  # only ever past the size limit
        raise RequestRejected(413, "payload_too_large", refused.message) from None
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
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH):
        raise RequestRejected(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} characters",
            IDEMPOTENCY_HEADER,
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
