"""Every REST operation, declared once: the router serves this list and `/openapi.json`
describes it, so a path, model or status cannot exist in one and not the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from graph.rest import handlers
from graph.rest.handlers import COLLECTION, RestContext
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    Event,
    EventList,
    ListEventsQuery,
    ListSessionsQuery,
    Session,
    SessionList,
    UpdateSessionRequest,
)

Handler = Callable[[Request, RestContext], Awaitable[Response]]
ITEM = COLLECTION + "/{id}"
EVENTS = ITEM + "/events"

# What each error status means on these paths (the body is always the Error shape).
ERROR_MEANINGS = {
    400: "The body is not valid JSON or not a JSON object, or the Idempotency-Key is invalid.",
    401: "The API key is missing, unknown or revoked.",
    404: "No such session for this key (other organisations' sessions look the same).",
    405: "The method is not allowed on this path (see `Allow`).",
    409: "The session's state forbids it (illegal transition, terminal session, plan limit).",
    412: "`If-Match` names a version the session no longer has; nothing was changed.",
    413: "The body is larger than the server's limit.",
    415: "The body is not sent as `application/json`.",
    422: "A field or parameter is invalid, unknown or missing; `error.field` names it.",
    429: "The organisation's plan allows no more requests this minute; see `Retry-After`.",
    500: "Unexpected; `error.errorId` is logged with the detail.",
}
_BODY_ERRORS = (400, 413, 415, 422)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    success_status: int
    success_model: type[BaseModel] | None
    success_description: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    idempotency_key: bool = False
    location_header: bool = False
    etag_header: bool = False
    if_match: bool = False
    if_none_match: bool = False

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(sorted({401, 429, 500, *self.errors}))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        COLLECTION,
        handlers.list_sessions,
        "listSessions",
        "List generation sessions, newest first",
        200,
        SessionList,
        "A page of sessions (without their events).",
        query=ListSessionsQuery,
        errors=(422,),
    ),
    Operation(
        "POST",
        COLLECTION,
        handlers.create_session,
        "createSession",
        "Create a generation session",
        201,
        Session,
        "The new session; `Location` is its URL.",
        body=CreateSessionRequest,
        errors=(*_BODY_ERRORS, 409),
        idempotency_key=True,
        location_header=True,
        etag_header=True,
    ),
    Operation(
        "GET",
        ITEM,
        handlers.get_session,
        "getSession",
        "Get session details",
        200,
        Session,
        "Session with events.",
        errors=(404,),
        etag_header=True,
        if_none_match=True,
    ),
    Operation(
        "PATCH",
        ITEM,
        handlers.update_session,
        "updateSession",
        "Update a generation session",
        200,
        Session,
        "The updated session with its events.",
        body=UpdateSessionRequest,
        errors=(*_BODY_ERRORS, 404, 409, 412),
        etag_header=True,
        if_match=True,
    ),
    Operation(
        "DELETE",
        ITEM,
        handlers.delete_session,
        "deleteSession",
        "Delete a generation session and its events",
        204,
        None,
        "Deleted.",
        errors=(404,),
    ),
    Operation(
        "POST",
        EVENTS,
        handlers.append_event,
        "appendEvent",
        "Append an event to a session",
        201,
        Event,
        "The stored event with its sequence.",
        body=AppendEventRequest,
        errors=(*_BODY_ERRORS, 404, 409),
        idempotency_key=True,
    ),
    Operation(
        "GET",
        EVENTS,
        handlers.list_events,
        "listEvents",
        "List a session's events after a sequence",
        200,
        EventList,
        "A page of events in sequence order.",
        query=ListEventsQuery,
        errors=(404, 422),
    ),
)
