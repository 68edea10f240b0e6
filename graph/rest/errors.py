"""REST errors: one body shape, `{"error":{"code":…,"message":…}}`, whatever went wrong.

Domain errors get their status and code from `graph.schema.errors.mapping_for`, the map GraphQL
uses too. Problems with the request itself (not JSON, too large, wrong content type) are
`RequestRejected`. A database that is unavailable is a 503 with `Retry-After`. Anything
else is a 500 whose id is both in the body and in the log, next to the traceback; the
body never carries a traceback or SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from db.errors import DomainError, InvalidInput, Unauthenticated
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    ErrorBody,
    ErrorDetail,
    Event,
    Session,
    UpdateSessionRequest,
)
from graph.schema.errors import log_unavailable, mapping_for, new_error_id, unavailable

log = logging.getLogger("sessiongraph.rest")


def _aliases(*models: type[BaseModel]) -> set[str]:
    return {info.alias or name for model in models for name, info in model.model_fields.items()}


# Fields a response shows but only the server sets (id, plan, timestamps, …).
SERVER_FIELDS = frozenset(
    _aliases(Session, Event)
    - _aliases(CreateSessionRequest, UpdateSessionRequest, AppendEventRequest)
)


class RequestRejected(Exception):
    """The request cannot be read as an API call (status 400, 405, 413 or 415)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    error_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field, error_id=error_id))
    return Response(
        body.model_dump_json(by_alias=True, exclude_none=True),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def rejected_response(error: RequestRejected) -> Response:
    return error_response(
        error.status_code, error.code, error.message, field=error.field, headers=error.headers
    )


def domain_error_response(error: DomainError) -> Response:
    mapping = mapping_for(error)
    headers = {"WWW-Authenticate": "Bearer"} if mapping.http_status == 401 else None
    return error_response(
        mapping.http_status, mapping.rest_code, error.message, field=error.field, headers=headers
    )


def unauthenticated_response(error: Unauthenticated) -> Response:
    """The `refuse` of the REST doors' `KeyRequired`."""
    return domain_error_response(error)


def validation_error_response(error: ValidationError) -> Response:
    """422 naming the first field pydantic blamed, as the client spells it."""
    first = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in first["loc"])
    field = path or None
    if first["type"] == "extra_forbidden" and path in SERVER_FIELDS:
        message = f"{path} is set by the server and cannot be sent"
    elif first["type"] == "extra_forbidden":
        message = f"{path} is not a known field"
    elif first["type"] == "missing":
        message = f"{path} is required"
    else:
        message = f"{path}: {first['msg']}" if path else first["msg"]
    mapping = mapping_for(InvalidInput(message, field=field))
    return error_response(mapping.http_status, mapping.rest_code, message, field=field)


def internal_error_response(error: BaseException, where: str) -> Response:
    """A 500 with an error id, except when the database is unavailable: then a 503 with
    `Retry-After`, since the request may well succeed a moment later."""
    down = unavailable(error)
    if down is not None:
        log_unavailable(error, where)
        return error_response(
            mapping_for(down).http_status,
            mapping_for(down).rest_code,
            down.message,
            headers={"Retry-After": str(down.retry_after_seconds)},
        )
    error_id = new_error_id()
    log.error("unexpected error %s in %s", error_id, where, exc_info=error)
    mapping = mapping_for(error)
    return error_response(
        mapping.http_status,
        mapping.rest_code,
        f"Internal server error (error id {error_id})",
        error_id=error_id,
    )
