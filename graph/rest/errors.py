"""REST errors: one body shape, `{"error":{"code":…,"message":…}}`, whatever went wrong;
domain errors take status and code from `mapping_for`, the map GraphQL uses too."""

from collections.abc import Mapping
from functools import partial

from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from db.errors import InvalidInput
from graph.http.jsonio import JSONResponse
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    Event,
    Session,
    UpdateSessionRequest,
)
from graph.schema.errors import door_error_response, rest_error_body


def _aliases(*models: type[BaseModel]) -> set[str]:
    return {info.alias or name for model in models for name, info in model.model_fields.items()}


# Fields a response shows but only the server sets (id, plan, timestamps, …).
SERVER_FIELDS = frozenset(
    _aliases(Session, Event)
    - _aliases(CreateSessionRequest, UpdateSessionRequest, AppendEventRequest)
)


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return JSONResponse(rest_error_body(code, message, field=field), status_code, headers)


class RequestRejected(Exception):
    """The request cannot be read as an API call (400, 413 or 415); `response` says why."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.response = error_response(status_code, code, message, field=field)


domain_error_response = partial(door_error_response, rest=True)


def validation_error_response(error: ValidationError) -> Response:
    """422 naming the first field pydantic blamed, as the client spells it."""
    first = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden" and path in SERVER_FIELDS:
        message = f"{path} is set by the server and cannot be sent"
    elif first["type"] == "extra_forbidden":
        message = f"{path} is not a known field"
    elif first["type"] == "missing":
        message = f"{path} is required"
    else:
        message = f"{path}: {first['msg']}" if path else first["msg"]
    return domain_error_response(InvalidInput(message, field=path or None))
