"""Every REST operation, declared once: the router serves this list and `/openapi.json`
describes it, so a path, model or status cannot exist in one and not the other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from starlette.requests import Request
from starlette.responses import Response

from graph.rest import handlers
from graph.rest.handlers import COLLECTION, IDEMPOTENCY_HEADER, RestContext
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
_BODY_ERRORS = (400, 413, 415, 422)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    success_model: type[BaseModel] | None
    success_description: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    # The headers it takes (Idempotency-Key, If-Match, If-None-Match) and sets on success.
    headers: tuple[str, ...] = ()

    @property
    def operation_id(self) -> str:
        return to_camel(self.handler.__name__)

    @property
    def success_status(self) -> int:
        return {"POST": 201, "DELETE": 204}.get(self.method, 200)

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(sorted({401, 429, 500, *self.errors}))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        COLLECTION,
        handlers.list_sessions,
        "List generation sessions, newest first",
        SessionList,
        "A page of sessions (without their events).",
        query=ListSessionsQuery,
        errors=(422,),
    ),
    Operation(
        "POST",
        COLLECTION,
        handlers.create_session,
        "Create a generation session",
        Session,
        "The new session; `Location` is its URL.",
        body=CreateSessionRequest,
        errors=(*_BODY_ERRORS, 409),
        headers=(IDEMPOTENCY_HEADER, "Location", "ETag"),
    ),
    Operation(
        "GET",
        ITEM,
        handlers.get_session,
        "Get session details",
        Session,
        "Session with events.",
        errors=(404,),
        headers=("ETag", "If-None-Match"),
    ),
    Operation(
        "PATCH",
        ITEM,
        handlers.update_session,
        "Update a generation session",
        Session,
        "The updated session with its events.",
        body=UpdateSessionRequest,
        errors=(*_BODY_ERRORS, 404, 409, 412),
        headers=("ETag", "If-Match"),
    ),
    Operation(
        "DELETE",
        ITEM,
        handlers.delete_session,
        "Delete a generation session and its events",
        None,
        "Deleted.",
        errors=(404,),
    ),
    Operation(
        "POST",
        EVENTS,
        handlers.append_event,
        "Append an event to a session",
        Event,
        "The stored event with its sequence.",
        body=AppendEventRequest,
        errors=(*_BODY_ERRORS, 404, 409),
        headers=(IDEMPOTENCY_HEADER,),
    ),
    Operation(
        "GET",
        EVENTS,
        handlers.list_events,
        "List a session's events after a sequence",
        EventList,
        "A page of events in sequence order.",
        query=ListEventsQuery,
        errors=(404, 422),
    ),
)
