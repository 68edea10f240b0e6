"""Every REST operation, declared once, and the routes serving them: `/openapi.json`
describes the same list, so a path, model or status cannot exist in one and not the other.
Each path is a `Resource` behind `KeyRequired`, so a request without a valid key is a 401
whatever it asks for, and an unknown method a JSON 405 with `Allow`."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from db.errors import DomainError
from db.store.engine import Database
from graph.http.auth import KeyRequired, failure_response
from graph.rest import handlers
from graph.rest.errors import (
    RequestRejected,
    domain_error_response,
    error_response,
    validation_error_response,
)
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
from graph.settings import Settings

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


class Resource:
    def __init__(self, operations: Sequence[Operation], ctx: RestContext) -> None:
        self.operations = {op.method: op for op in operations}
        self.ctx = ctx
        methods = [m for m in ("GET", "POST", "PATCH", "DELETE") if m in self.operations]
        self.allow = ", ".join([*methods, *(["HEAD"] if "GET" in methods else []), "OPTIONS"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        method = request.method
        operation = self.operations.get("GET" if method == "HEAD" else method)
        if method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": self.allow})
        elif operation is None:
            message = f"{method} is not allowed here; allowed: {self.allow}"
            response = error_response(
                405, "method_not_allowed", message, headers={"Allow": self.allow}
            )
        else:
            response = await self.run(operation, request)
        await response(scope, receive, send)

    async def run(self, operation: Operation, request: Request) -> Response:
        """Every way a handler can fail ends as a JSON error; nothing escapes as a bare 500."""
        try:
            return await operation.handler(request, self.ctx)
        except RequestRejected as error:
            return error.response
        except ValidationError as error:
            return validation_error_response(error)
        except DomainError as error:
            return domain_error_response(error)
        except ClientDisconnect:
            # The client left before its body arrived: no one reads an answer, nothing to log.
            return Response(status_code=499)
        except Exception as error:
            return failure_response(error, request.scope, f"{operation.method} {operation.path}")


def rest_api_routes(settings: Settings, db: Database) -> list[BaseRoute]:
    """The REST paths (the collection also with a trailing slash), then a JSON 404 for any
    other path under `/v1`: list them after the others."""
    ctx = RestContext(
        db=db,
        session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        max_body_bytes=settings.rest_max_body_bytes,
        idempotency_retention=timedelta(seconds=settings.idempotency_retention_seconds),
    )
    by_path: dict[str, list[Operation]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(operation.path, []).append(operation)
    routes: list[BaseRoute] = []
    for path, operations in by_path.items():
        reads_one_session = any(op.handler is handlers.get_session for op in operations)
        folded = handlers.folded_get_session(ctx) if reads_one_session else None
        guarded = KeyRequired(Resource(operations, ctx), db, folded=folded)
        routes.append(Route(path, guarded))
        if path == COLLECTION:
            routes.append(Route(path + "/", guarded))
    not_found = error_response(404, "not_found", "no such path in the REST API")  # an ASGI app
    fallback = KeyRequired(not_found, db)
    return [*routes, Route("/v1/{rest:path}", fallback)]
