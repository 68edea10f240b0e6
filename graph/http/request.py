"""Reading a GraphQL-over-HTTP request: media types, size limits and the request parameters,
each malformed request refused with the status the specification names, before any GraphQL."""

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


@dataclass(eq=False)
class RequestRefused(Exception):
    """The HTTP request cannot be a GraphQL request; `status` says why (400, 405, 406, …)."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    code: str = "BAD_USER_INPUT"


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    """`query` is None when the request names a persisted document (graph/plan/persisted.py)."""

    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    document_id: str | None = None


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The quality of the most specific range matching `media_type` (RFC 9110 §12.5.1)."""
    candidates = ("*/*", media_type.split("/")[0] + "/*", media_type)
    found = [(candidates.index(media), quality) for media, quality in ranges if media in candidates]
    return max(found, key=lambda match: match[0], default=(0, 0.0))[1]


def response_media_type(accept: str | None) -> str | None:
    """`application/graphql-response+json` when asked for by name, else `application/json`
    (also for no Accept or a wildcard, as legacy clients send); None for neither (406)."""
    if not accept or not accept.strip():
        return JSON
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))
    response_quality = _quality(ranges, GRAPHQL_RESPONSE)
    json_quality = _quality(ranges, JSON)
    explicit = any(media == GRAPHQL_RESPONSE for media, _ in ranges)
    if explicit and response_quality > 0 and response_quality >= json_quality:
        return GRAPHQL_RESPONSE
    if json_quality > 0:
        return JSON
    if response_quality > 0:
        return GRAPHQL_RESPONSE
    return None


def _json_object(raw: Any, name: str) -> dict[str, Any] | None:
    if raw is not None and not isinstance(raw, dict):
        raise RequestRefused(400, f"'{name}' must be a JSON object")
    return raw


def _optional_string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise RequestRefused(400, f"'{name}' must be a string")
    return value


def _params(data: dict[str, Any]) -> GraphQLParams:
    """A `query` string, unless a persisted document is named by `documentId` (Relay's
    `doc_id` too) or by `extensions.persistedQuery`."""
    query = _optional_string(data, "query")
    document_id = _optional_string(data, "documentId" if "documentId" in data else "doc_id")
    extensions = _json_object(data.get("extensions"), "extensions")
    if query is None and document_id is None and "persistedQuery" not in (extensions or {}):
        raise RequestRefused(400, "the request needs a 'query' string")
    return GraphQLParams(
        query=query,
        operation_name=_optional_string(data, "operationName") or None,
        variables=_json_object(data.get("variables"), "variables"),
        extensions=extensions,
        document_id=document_id,
    )


def params_from_query_string(request: Request) -> GraphQLParams:
    """GET: `query` (or `documentId`), `operationName`, JSON-encoded `variables` / `extensions`."""
    args = request.query_params
    names = ("query", "operationName", "documentId", "doc_id")
    data: dict[str, Any] = {name: args[name] for name in names if name in args}
    for name in ("variables", "extensions"):
        if args.get(name):
            try:
                data[name] = orjson.loads(args[name])
            except orjson.JSONDecodeError:
                raise RequestRefused(400, f"'{name}' is not valid JSON") from None
    return _params(data)


def _is_json_content_type(value: str | None) -> bool:
    """Only `application/json` (UTF-8): forms and `text/plain` bodies are what a cross-site
    page can post without a CORS preflight, so refusing them is the CSRF protection."""
    media, *params = (piece.strip() for piece in (value or "").split(";"))
    charsets = [
        text.strip().strip('"').lower()
        for name, _, text in (param.partition("=") for param in params)
        if name.strip().lower() == "charset"
    ]
    return media.lower() == JSON and all(charset in ("utf-8", "utf8") for charset in charsets)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRefused(413, f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def params_from_body(
    request: Request, limit: int, *, max_operations: int = 1
) -> GraphQLParams | list[GraphQLParams]:
    """POST: a JSON object sent as `application/json`, or a batch (a JSON array of them) when
    batching is on (`max_operations` above 1), up to that many."""
    if not _is_json_content_type(request.headers.get("content-type")):
        raise RequestRefused(415, "send the request as 'Content-Type: application/json'")
    body = await read_body(request, limit)
    if not body:
        raise RequestRefused(400, "the request body is empty")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestRefused(400, "the request body is not valid JSON") from None
    if isinstance(data, dict):
        return _params(data)
    if not isinstance(data, list):
        raise RequestRefused(400, "the request body must be a JSON object")
    if max_operations <= 1:
        raise RequestRefused(
            400, "batching is off: send one operation per request, as a JSON object"
        )
    if not data:
        raise RequestRefused(400, "the batch is empty")
    if len(data) > max_operations:
        raise RequestRefused(
            400, f"Too many operations in the batch: at most {max_operations} per request"
        )
    if not all(isinstance(item, dict) for item in data):
        raise RequestRefused(400, "every request in a batch must be a JSON object")
    return [_params(item) for item in data]
