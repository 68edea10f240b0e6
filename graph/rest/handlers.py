"""The REST handlers: each reads its request (415 unless JSON, 413 past the size limit, 400
unless a JSON object) and translates it into one `db` operation or read plan (every rule lives
in `db`, shared with GraphQL)."""

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from db import events as event_ops
from db import sessions as session_ops
from db.cursors import decode_session_cursor
from db.errors import NotFound
from db.idempotency import MAX_KEY_LENGTH, StoredResponse, claim, fingerprint
from db.ids import SESSION_PREFIX, is_well_formed
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database, Transaction
from db.store.read_plan import ReadPlan
from graph.http.auth import Folded, principal_of
from graph.http.request import RequestRefused, read_body
from graph.rest import reads
from graph.rest.errors import RequestRejected
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    Event,
    ListEventsQuery,
    ListSessionsQuery,
    Session,
    UpdateSessionRequest,
)

COLLECTION = "/v1/products/generation/sessions"
JSON = "application/json"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RestContext:
    db: Database
    session_ttl: timedelta
    max_body_bytes: int
    idempotency_retention: timedelta


def _parse_query(model: type[M], request: Request) -> M:
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


async def _read_json_object(request: Request, limit: int) -> dict[str, Any]:
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


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH):
        raise RequestRejected(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} characters",
            IDEMPOTENCY_HEADER,
        )
    return key


def _entity_tags(request: Request, header: str) -> list[str] | None:
    """The tags of `If-Match` / `If-None-Match` (`*` stays `*`); None when it is absent."""
    value = request.headers.get(header)
    return None if value is None else [tag.strip() for tag in value.split(",") if tag.strip()]


def _session_id(request: Request) -> str:
    return str(request.path_params["id"])


def _stored(response: StoredResponse, *, replayed: bool = False) -> Response:
    headers = {**response.headers, **({REPLAYED_HEADER: "true"} if replayed else {})}
    return Response(response.body.encode(), response.status_code, headers, media_type=JSON)


async def _write_once(
    request: Request,
    ctx: RestContext,
    model: type[M],
    run: Callable[[Principal, M, Transaction | None], Awaitable[StoredResponse]],
) -> Response:
    """Validate the body and run the write once per Idempotency-Key: a retry with the same
    request replays the first answer."""
    key = _idempotency_key(request)  # a bad key is refused before the body is read
    body = await _read_json_object(request, ctx.max_body_bytes)
    parsed = model.model_validate(body)
    principal = principal_of(request.scope)
    if key is None:
        return _stored(await run(principal, parsed, None))
    request_fingerprint = fingerprint(request.method, request.url.path, body)
    async with claim(
        ctx.db, principal, key, request_fingerprint, retention=ctx.idempotency_retention
    ) as held:
        if held.replay is not None:
            return _stored(held.replay, replayed=True)
        stored = await run(principal, parsed, held.conn)
        await held.record(stored)
    return _stored(stored)


async def _read_session(
    ctx: RestContext, request: Request, plan: ReadPlan, *values: Any
) -> tuple[str, str]:
    """A planned read of one of the caller's sessions (its id first), or NotFound."""
    session_id = _session_id(request)
    found = None
    if is_well_formed(session_id, SESSION_PREFIX):
        organization_id = principal_of(request.scope).organization_id
        found = await read_sql.read_row(ctx.db, organization_id, plan, [session_id, *values])
    if found is None:
        raise NotFound(f"session {session_id} not found")
    return found


def _document(request: Request, body: str, version: str) -> Response:
    etag = f'"{version}"'
    tags = _entity_tags(request, "if-none-match") or []
    # The weak comparison: `W/"x"` matches `"x"`.
    if "*" in tags or etag in (tag.removeprefix("W/") for tag in tags):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, headers={"ETag": etag}, media_type=JSON)


async def list_sessions(request: Request, ctx: RestContext) -> Response:
    query = _parse_query(ListSessionsQuery, request)
    cursor = decode_session_cursor(query.cursor, field="cursor") if query.cursor else None
    plan = reads.session_list(
        cursor=cursor is not None,
        statuses=tuple(query.status) if query.status is not None else None,
        creator=query.user_id is not None,
    )
    values = [query.limit, *(cursor or ()), *([query.user_id] if query.user_id else [])]
    organization_id = principal_of(request.scope).organization_id
    return Response(await read_sql.read(ctx.db, organization_id, plan, values), media_type=JSON)


async def create_session(request: Request, ctx: RestContext) -> Response:
    async def run(
        principal: Principal, fields: CreateSessionRequest, conn: Transaction | None
    ) -> StoredResponse:
        record = await session_ops.create_session(
            ctx.db, principal, fields.provided(), ttl=ctx.session_ttl, conn=conn
        )
        headers = {"Location": f"{COLLECTION}/{record.id}", "ETag": record.etag}
        return StoredResponse(201, headers, Session.of(record, []).model_dump_json(by_alias=True))

    return await _write_once(request, ctx, CreateSessionRequest, run)


async def get_session(request: Request, ctx: RestContext) -> Response:
    return _document(request, *await _read_session(ctx, request, reads.SESSION_DOCUMENT))


def folded_get_session(ctx: RestContext) -> Folded:
    """`GET /:id` with the key check in its one statement (see `KeyRequired`); anything
    else, a missing session included, takes the usual path and its usual answer."""

    async def folded(request: Request, key_hash: str) -> tuple[Principal, Response] | None:
        session_id = _session_id(request)
        if request.method != "GET" or not is_well_formed(session_id, SESSION_PREFIX):
            return None
        found = await read_sql.read_as(ctx.db, key_hash, reads.SESSION_DOCUMENT, [session_id])
        if found is None or found[1] is None:
            return None
        return found[0], _document(request, *found[1])

    return folded


async def update_session(request: Request, ctx: RestContext) -> Response:
    body = await _read_json_object(request, ctx.max_body_bytes)
    changes = UpdateSessionRequest.model_validate(body).provided()
    tags = _entity_tags(request, "if-match")
    await session_ops.update_session(
        ctx.db,
        principal_of(request.scope),
        _session_id(request),
        changes,
        if_match=None if tags is None or "*" in tags else tags,
    )
    answer, version = await _read_session(ctx, request, reads.SESSION_DOCUMENT)
    return Response(answer, headers={"ETag": f'"{version}"'}, media_type=JSON)


async def delete_session(request: Request, ctx: RestContext) -> Response:
    await session_ops.delete_session(ctx.db, principal_of(request.scope), _session_id(request))
    return Response(status_code=204)


async def append_event(request: Request, ctx: RestContext) -> Response:
    async def run(
        principal: Principal, event: AppendEventRequest, conn: Transaction | None
    ) -> StoredResponse:
        record = await event_ops.append_event(
            ctx.db, principal, _session_id(request), **dict(event), conn=conn
        )
        return StoredResponse(201, {}, Event.of(record).model_dump_json(by_alias=True))

    return await _write_once(request, ctx, AppendEventRequest, run)


async def list_events(request: Request, ctx: RestContext) -> Response:
    query = _parse_query(ListEventsQuery, request)
    body, _ = await _read_session(ctx, request, reads.EVENT_PAGE, query.limit, query.after)
    return Response(body, media_type=JSON)
