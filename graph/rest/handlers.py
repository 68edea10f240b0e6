"""The REST handlers: read the request, call one `db` operation, write the model back.

Every rule (tenant scope, status machine, hashes, sequences, plan limits) lives in `db`,
shared with GraphQL; a handler only translates between the wire and those operations.
"""

from __future__ import annotations

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
from db.errors import InvalidInput, NotFound
from db.idempotency import StoredResponse, claim, fingerprint
from db.ids import SESSION_PREFIX, is_well_formed
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database, Transaction
from graph.http.auth import Folded, principal_of
from graph.rest import reads
from graph.rest.bodies import event_body, session_body
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    Event,
    EventList,
    ListEventsQuery,
    ListSessionsQuery,
    SessionList,
    SessionSummary,
    UpdateSessionRequest,
)
from graph.rest.wire import entity_tags, idempotency_key, none_match, read_json_object

COLLECTION = "/v1/products/generation/sessions"
JSON = "application/json"
REPLAYED_HEADER = "Idempotent-Replayed"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RestContext:
    """What every handler needs, fixed when the app is built."""

    db: Database
    session_ttl: timedelta
    max_body_bytes: int
    idempotency_retention: timedelta


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        model.model_dump_json(by_alias=True),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def _repeats(annotation: Any) -> bool:
    return any(get_origin(a) is list for a in (annotation, *get_args(annotation)))


def parse_query(model: type[M], request: Request) -> M:
    """Repeatable parameters (lists) take every value; others the last one given."""
    params = request.query_params
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias not in params:
            continue
        values[alias] = params.getlist(alias) if _repeats(info.annotation) else params[alias]
    return model.model_validate(values)


def _session_id(request: Request) -> str:
    return str(request.path_params["id"])


def _stored(response: StoredResponse, *, replayed: bool = False) -> Response:
    headers = dict(response.headers)
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        response.body.encode(),
        status_code=response.status_code,
        headers=headers,
        media_type="application/json",
    )


Run = Callable[[Transaction | None], Awaitable[StoredResponse]]


async def _idempotent(ctx: RestContext, request: Request, body: Any, run: Run) -> Response:
    """Run once per Idempotency-Key: a retry with the same request replays the first answer."""
    key = idempotency_key(request)
    if key is None:
        return _stored(await run(None))
    principal = principal_of(request.scope)
    request_fingerprint = fingerprint(request.method, request.url.path, body)
    async with claim(
        ctx.db, principal, key, request_fingerprint, retention=ctx.idempotency_retention
    ) as held:
        if held.replay is not None:
            return _stored(held.replay, replayed=True)
        stored = await run(held.conn)
        await held.record(stored)
    return _stored(stored)


async def list_sessions(request: Request, ctx: RestContext) -> Response:
    query = parse_query(ListSessionsQuery, request)
    principal = principal_of(request.scope)
    try:
        cursor = decode_session_cursor(query.cursor, field="cursor") if query.cursor else None
        plan = reads.session_list(
            cursor=cursor is not None,
            statuses=tuple(query.status) if query.status is not None else None,
            creator=query.user_id is not None,
        )
        values = [query.limit, *(cursor or ()), *([query.user_id] if query.user_id else [])]
        body = await read_sql.read(ctx.db, principal.organization_id, plan, values)
        return Response(body, media_type=JSON)
    except InvalidInput:
        pass  # the operation below refuses it as it should
    page = await session_ops.list_sessions(
        ctx.db,
        principal_of(request.scope),
        limit=query.limit,
        after=query.cursor,
        statuses=query.status,
        user_id=query.user_id,
        cursor_field="cursor",
        limit_field="limit",
    )
    return json_response(
        SessionList(
            data=[SessionSummary.of(r) for r in page.items],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )
    )


async def create_session(request: Request, ctx: RestContext) -> Response:
    idempotency_key(request)  # a bad key is refused before the body is read
    body = await read_json_object(request, ctx.max_body_bytes)
    fields = CreateSessionRequest.model_validate(body).provided()
    principal = principal_of(request.scope)

    async def run(conn: Transaction | None) -> StoredResponse:
        record = await session_ops.create_session(
            ctx.db, principal, fields, ttl=ctx.session_ttl, conn=conn
        )
        return StoredResponse(
            status_code=201,
            headers={"Location": f"{COLLECTION}/{record.id}", "ETag": record.etag},
            body=session_body(record, []).decode(),
        )

    return await _idempotent(ctx, request, body, run)


async def get_session(request: Request, ctx: RestContext) -> Response:
    body, etag = await _session_document(ctx, request)
    return _document_response(request, body, etag)


def _document_response(request: Request, body: str, etag: str) -> Response:
    if none_match(entity_tags(request.headers.get("if-none-match")), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, headers={"ETag": etag}, media_type=JSON)


def folded_get_session(ctx: RestContext) -> Folded:
    """`GET /:id` with the key check in its one statement (see `KeyRequired`); anything
    else, a missing session included, takes the usual path and its usual answer."""

    async def folded(request: Request, key_hash: str) -> tuple[Principal, Response] | None:
        session_id = _session_id(request)
        if request.method != "GET" or not is_well_formed(session_id, SESSION_PREFIX):
            return None
        found = await read_sql.read_row_as(ctx.db, key_hash, reads.SESSION_DOCUMENT, [session_id])
        if found is None or found[1] is None:
            return None
        principal, (body, version) = found[0], found[1]
        return principal, _document_response(request, body, f'"{version}"')

    return folded


async def _session_document(ctx: RestContext, request: Request) -> tuple[str, str]:
    """The session with its whole log as one statement writes it, and its ETag."""
    session_id = _session_id(request)
    found = None
    if is_well_formed(session_id, SESSION_PREFIX):
        found = await read_sql.read_row(
            ctx.db,
            principal_of(request.scope).organization_id,
            reads.SESSION_DOCUMENT,
            [session_id],
        )
    if found is None:
        raise NotFound(f"session {session_id} not found")
    body, version = found
    return body, f'"{version}"'


async def update_session(request: Request, ctx: RestContext) -> Response:
    body = await read_json_object(request, ctx.max_body_bytes)
    changes = UpdateSessionRequest.model_validate(body).provided()
    tags = entity_tags(request.headers.get("if-match"))
    principal = principal_of(request.scope)
    await session_ops.update_session(
        ctx.db,
        principal,
        _session_id(request),
        changes,
        if_match=None if tags is None or "*" in tags else tags,
    )
    answer, etag = await _session_document(ctx, request)
    return Response(answer, headers={"ETag": etag}, media_type=JSON)


async def delete_session(request: Request, ctx: RestContext) -> Response:
    await session_ops.delete_session(ctx.db, principal_of(request.scope), _session_id(request))
    return Response(status_code=204)


async def append_event(request: Request, ctx: RestContext) -> Response:
    idempotency_key(request)
    body = await read_json_object(request, ctx.max_body_bytes)
    event = AppendEventRequest.model_validate(body)
    principal = principal_of(request.scope)
    session_id = _session_id(request)

    async def run(conn: Transaction | None) -> StoredResponse:
        record = await event_ops.append_event(
            ctx.db,
            principal,
            session_id,
            type=event.type,
            stage=event.stage,
            message=event.message,
            payload=event.payload,
            conn=conn,
        )
        return StoredResponse(status_code=201, headers={}, body=event_body(record).decode())

    return await _idempotent(ctx, request, body, run)


async def list_events(request: Request, ctx: RestContext) -> Response:
    query = parse_query(ListEventsQuery, request)
    principal = principal_of(request.scope)
    session_id = _session_id(request)
    if is_well_formed(session_id, SESSION_PREFIX):
        found = await read_sql.read_row(
            ctx.db,
            principal.organization_id,
            reads.EVENT_PAGE,
            [session_id, query.limit, query.after],
        )
        if found is not None:
            return Response(found[0], media_type=JSON)
    page = await event_ops.list_events(
        ctx.db,
        principal_of(request.scope),
        _session_id(request),
        after=query.after,
        limit=query.limit,
    )
    return json_response(
        EventList(
            data=[Event.of(e) for e in page.items],
            has_more=page.has_more,
            next_after=page.items[-1].sequence if page.has_more and page.items else None,
        )
    )
