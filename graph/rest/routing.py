"""Routes for the REST operations: key check first, then method dispatch with JSON errors.

Each path is one ASGI `Resource` behind `KeyRequired`, so a request without a valid key is
a 401 whatever it asks for, and an unknown method is a JSON 405 carrying `Allow`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from db.errors import DomainError
from graph.http.auth import KeyRequired
from graph.http.ratelimit import rest_rate_limited_response
from graph.rest import handlers
from graph.rest.errors import (
    RequestRejected,
    domain_error_response,
    error_response,
    internal_error_response,
    rejected_response,
    unauthenticated_response,
    validation_error_response,
)
from graph.rest.handlers import COLLECTION, RestContext
from graph.rest.operations import OPERATIONS, Operation


async def run_operation(operation: Operation, request: Request, ctx: RestContext) -> Response:
    """Every way a handler can fail ends as a JSON error; nothing escapes as a bare 500."""
    try:
        return await operation.handler(request, ctx)
    except RequestRejected as error:
        return rejected_response(error)
    except ValidationError as error:
        return validation_error_response(error)
    except DomainError as error:
        return domain_error_response(error)
    except ClientDisconnect:
        # The client left before its body arrived: no one reads an answer, nothing to log.
        return Response(status_code=499)
    except Exception as error:
        return internal_error_response(error, f"{operation.method} {operation.path}")


_METHOD_ORDER = ("GET", "POST", "PATCH", "DELETE")


class Resource:
    """One path: dispatches on the method to its operations."""

    def __init__(self, operations: Sequence[Operation], ctx: RestContext) -> None:
        self.operations = {op.method: op for op in operations}
        self.ctx = ctx
        methods = [m for m in _METHOD_ORDER if m in self.operations]
        if "GET" in methods:
            methods.append("HEAD")
        self.allow = ", ".join([*methods, "OPTIONS"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        method = request.method
        operation = self.operations.get("GET" if method == "HEAD" else method)
        if method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": self.allow})
        elif operation is None:
            response = error_response(
                405,
                "method_not_allowed",
                f"{method} is not allowed here; allowed: {self.allow}",
                headers={"Allow": self.allow},
            )
        else:
            response = await run_operation(operation, request, self.ctx)
        await response(scope, receive, send)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(404, "not_found", "no such path in the REST API")
    await response(scope, receive, send)


def rest_routes(ctx: RestContext) -> list[BaseRoute]:
    """The REST paths, with the collection also answering with a trailing slash."""
    by_path: dict[str, list[Operation]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(operation.path, []).append(operation)
    routes: list[BaseRoute] = []
    for path, operations in by_path.items():
        reads_one_session = any(op.handler is handlers.get_session for op in operations)
        guarded = KeyRequired(
            Resource(operations, ctx),
            ctx.db,
            refuse=unauthenticated_response,
            limited=rest_rate_limited_response,
            folded=handlers.folded_get_session(ctx) if reads_one_session else None,
        )
        routes.append(Route(path, guarded))
        if path == COLLECTION:
            routes.append(Route(path + "/", guarded))
    return routes


def rest_fallback_route(ctx: RestContext) -> BaseRoute:
    """Any other path under `/v1` answers 404 in the REST error shape; list it last."""
    return Route(
        "/v1/{rest:path}",
        KeyRequired(
            _not_found, ctx.db, refuse=unauthenticated_response, limited=rest_rate_limited_response
        ),
    )
