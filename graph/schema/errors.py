"""The one map from domain errors to HTTP statuses and GraphQL `extensions.code`."""

import logging
import secrets
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, NamedTuple

from graphql.error import GraphQLError, GraphQLSyntaxError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from db.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidInput,
    LimitExceeded,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)
from db.store.outages import UNREACHABLE, unavailable
from graph.framework import PreExecutionError
from graph.http.jsonio import JSONResponse

# Re-exported for the doors, which take every error fact from this module.
__all__ = ["UNREACHABLE", "ServiceUnavailable", "unavailable"]

log = logging.getLogger("sessiongraph.errors")


class ErrorMapping(NamedTuple):
    http_status: int
    rest_code: str
    graphql_code: str


_MAPPINGS: dict[type[DomainError], ErrorMapping] = {
    NotFound: ErrorMapping(404, "not_found", "NOT_FOUND"),
    Conflict: ErrorMapping(409, "conflict", "CONFLICT"),
    InvalidInput: ErrorMapping(422, "invalid_input", "BAD_USER_INPUT"),
    Unauthenticated: ErrorMapping(401, "unauthenticated", "UNAUTHENTICATED"),
    LimitExceeded: ErrorMapping(409, "limit_exceeded", "CONFLICT"),
    PreconditionFailed: ErrorMapping(412, "precondition_failed", "CONFLICT"),
    RateLimited: ErrorMapping(429, "rate_limited", "RATE_LIMITED"),
    IdempotencyKeyReused: ErrorMapping(422, "idempotency_key_reused", "BAD_USER_INPUT"),
    ServiceUnavailable: ErrorMapping(503, "service_unavailable", "SERVICE_UNAVAILABLE"),
}
INTERNAL = ErrorMapping(500, "internal", "INTERNAL")


def mapping_for(error: BaseException) -> ErrorMapping:
    for kind in type(error).__mro__:
        found = _MAPPINGS.get(kind)
        if found is not None:
            return found
    return INTERNAL


def new_error_id() -> str:
    """Echoed to the caller and written to the log, so a report can be matched to its detail."""
    return "err_" + secrets.token_hex(8)


def log_unavailable(error: BaseException, where: str) -> None:
    """An outage is not a bug: one warning line per failed request, no traceback."""
    log.warning("database unavailable in %s: %s: %s", where, type(error).__name__, error)


def rest_error_body(
    code: str, message: str, *, field: str | None = None, error_id: str | None = None
) -> dict[str, Any]:
    """REST's one error shape (graph/rest/models.py `ErrorBody`): handlers, doors, SSE frames."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    if error_id is not None:
        detail["errorId"] = error_id
    return {"error": detail}


def door_error_response(
    error: DomainError,
    *,
    rest: bool,
    error_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error in its door's shape, REST's or GraphQL's, with the headers its status needs."""
    mapping = mapping_for(error)
    all_headers = dict(headers or {})
    if mapping.http_status == 401:
        all_headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        all_headers.setdefault("Retry-After", str(retry_after))
    if rest:
        body = rest_error_body(
            mapping.rest_code, error.message, field=error.field, error_id=error_id
        )
        return JSONResponse(body, mapping.http_status, all_headers)
    body = {"errors": [graphql_error_body(error, error_id)]}
    return JSONResponse(body, mapping.http_status, all_headers)


def graphql_error_body(error: DomainError, error_id: str | None = None) -> dict[str, Any]:
    """A GraphQL error outside execution: a door's refusal, a WebSocket `error` message."""
    extensions: dict[str, Any] = {"code": mapping_for(error).graphql_code}
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        extensions["retryAfter"] = retry_after
    if error_id is not None:
        extensions["errorId"] = error_id
    return {"message": error.message, "extensions": extensions}


def graphql_error(error: GraphQLError, *, production: bool) -> GraphQLError:
    """Give every error a code; hide the detail of unexpected ones behind an error id."""
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError | DomainError):
        down = unavailable(original)
        if down is not None:
            log_unavailable(original, "a GraphQL resolver")
            original = down
    extensions = dict(error.extensions or {})
    if original is None or isinstance(original, GraphQLError):
        # Syntax, validation and variable coercion errors: the request itself is wrong.
        extensions.setdefault("code", "BAD_USER_INPUT")
        message = error.message
    elif isinstance(original, DomainError):
        extensions["code"] = mapping_for(original).graphql_code
        if original.field is not None:
            extensions["field"] = original.field
        if isinstance(original, LimitExceeded):
            extensions["reason"] = "MAX_SESSIONS"
        if isinstance(original, RateLimited | ServiceUnavailable):
            extensions["retryAfter"] = original.retry_after_seconds
        message = original.message
    else:
        error_id = new_error_id()
        log.error("unexpected error %s in GraphQL resolver", error_id, exc_info=original)
        extensions = {"code": "INTERNAL", "errorId": error_id}
        message = f"Internal server error (error id {error_id})"
        if not production:
            extensions["detail"] = f"{type(original).__name__}: {original}"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def with_codes(result: ExecutionResult, *, production: bool) -> ExecutionResult:
    """Map a result's errors in place; applied to every result the schema produces."""
    if result.errors:
        result.errors = [graphql_error(e, production=production) for e in result.errors]
    return result


def _pre_execution_with_codes(result: ExecutionResult, *, production: bool) -> ExecutionResult:
    errors = []
    for error in result.errors or []:
        original = error.original_error
        if isinstance(error, GraphQLSyntaxError) or not (
            original is None or isinstance(original, GraphQLError | DomainError)
        ):
            # Syntax errors and a bad operation choice (unknown name, wrong kind) keep their
            # object: its class tells the WebSocket handler to close with 4400.
            error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
            errors.append(error)
        else:
            errors.append(graphql_error(error, production=production))
    result.errors = errors
    return result


async def stream_with_codes(
    source: AsyncGenerator[Any, None], *, production: bool
) -> AsyncGenerator[Any, None]:
    """`with_codes` for each result of a stream (subscriptions, operations over WebSocket)."""
    started = False
    async with aclosing(source):
        try:
            async for result in source:
                started = True
                if isinstance(result, PreExecutionError):
                    yield _pre_execution_with_codes(result, production=production)
                elif isinstance(result, ExecutionResult):
                    yield with_codes(result, production=production)
                else:
                    yield result
        except GraphQLError as error:
            if started:
                raise
            # A parse error raised while preparing (e.g. through the parser cache).
            failed = PreExecutionError(data=None, errors=[error])
            yield _pre_execution_with_codes(failed, production=production)
