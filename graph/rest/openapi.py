"""`/openapi.json`, OpenAPI 3.1 from the operation list and the schemas pydantic prints for
the handlers' models; `/docs`, Swagger UI over it from an installed package's assets (no CDN,
no validator badge, so the page works without the internet).
"""

from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from db.idempotency import MAX_KEY_LENGTH
from db.validation import MAX_JSON_NUMBER, MIN_JSON_NUMBER
from graph.http.graphiql import STATIC
from graph.http.jsonio import JSONResponse
from graph.live.sse import RETRY_MS, STREAM_PATH
from graph.rest.handlers import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from graph.rest.models import NO_NUL, ErrorBody, Event
from graph.rest.routing import OPERATIONS, Operation

REF = "#/components/schemas/{model}"
_STRING = {"type": "string"}
_SEQUENCE = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}  # a GraphQL Int
# The same range as text: 0 to 2147483647, leading zeros and blanks allowed.
_SEQUENCE_TEXT = (
    r"^\s*0*([0-9]{0,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
    r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])\s*$"
)


def _ref(model: type[BaseModel] | str) -> dict[str, Any]:
    return {"$ref": REF.format(model=getattr(model, "__name__", model))}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# The free JSON objects (prd, payload, …): any JSON, except what no engine can store — a
# NUL character in a key or string, or a number beyond the 64-bit integers' range.
JSON_SCHEMAS: dict[str, Any] = {
    "JsonObject": {
        "type": "object",
        "description": "A free JSON object.",
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": _ref("JsonValue"),
    },
    "JsonValue": {
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "number", "minimum": MIN_JSON_NUMBER, "maximum": MAX_JSON_NUMBER},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": _ref("JsonValue")},
            _ref("JsonObject"),
        ]
    },
}

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
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"schema": _STRING}},
    405: {"Allow": {"required": True, "schema": _STRING}},
    429: {
        name: {"required": True, "schema": _STRING}
        for name in ("Retry-After", "RateLimit-Policy", "RateLimit")
    },
}


def _errors(statuses: tuple[int, ...]) -> dict[str, Any]:
    return {
        str(status): {
            "description": ERROR_MEANINGS[status],
            "content": _json(_ref(ErrorBody)),
            **({"headers": _ERROR_HEADERS[status]} if status in _ERROR_HEADERS else {}),
        }
        for status in statuses
    }


def _param(
    where: str, name: str, description: str, schema: dict[str, Any], required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


_SESSION_ID = _param(
    "path",
    "id",
    "Session id (`sess_` + 16 lowercase hex).",
    {"type": "string", "pattern": r"^sess_[0-9a-f]{16}$"},
    required=True,
)
# The headers an operation may take, and those a success may carry, by `Operation.headers`.
_REQUEST_HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    IDEMPOTENCY_HEADER: (
        "Makes the request safe to retry: a repeat with the same key and body gets the "
        "first response back and creates nothing; the same key with another body is "
        "422. Keys are kept 24 hours per organisation.",
        {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    ),
    "If-Match": (
        "Apply only if the session still has this ETag (else 412, nothing changed).",
        _STRING,
    ),
    "If-None-Match": ("Answer 304 without a body if the session still has this ETag.", _STRING),
}
_ETAG = {
    "description": "Strong validator of the session and its log; changes with either.",
    "required": True,
    "schema": _STRING,
}
_RESPONSE_HEADERS = {
    "Location": {"description": "Path of the new session.", "required": True, "schema": _STRING},
    "ETag": _ETAG,
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored response to an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        prop.pop("title", None)
        description = prop.pop("description", "")
        # An omitted parameter is the "no value" of a query string; null has no spelling there.
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        if branches:
            prop.update(branches[0])
        if prop.get("default", 0) is None:
            del prop["default"]
        required = name in schema.get("required", [])
        parameters.append(_param("query", name, description, prop, required))
    return parameters


def _operation(operation: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": operation.success_description}
    sets = {REPLAYED_HEADER if h == IDEMPOTENCY_HEADER else h for h in operation.headers}
    if headers := {name: h for name, h in _RESPONSE_HEADERS.items() if name in sets}:
        success["headers"] = headers
    if operation.success_model is not None:
        success["content"] = _json(_ref(operation.success_model))
    responses: dict[str, Any] = {str(operation.success_status): success}
    if "If-None-Match" in operation.headers:
        responses["304"] = {
            "description": "Not modified: the session still has the ETag you sent.",
            "headers": {"ETag": _ETAG},
        }
    parameters = [_SESSION_ID] if "{id}" in operation.path else []
    if operation.query is not None:
        parameters += _query_parameters(operation.query)
    parameters += [
        _param("header", name, *h)
        for name, h in _REQUEST_HEADERS.items()
        if name in operation.headers
    ]
    entry: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": ["sessions"],
        "parameters": parameters,
        "responses": responses | _errors(operation.statuses),
    }
    if operation.body is not None:
        entry["requestBody"] = {"required": True, "content": _json(_ref(operation.body))}
    return entry


# The SSE stream (graph/live/sse.py) is no JSON `Operation`; its parameter is `{id}` here too.
EVENT_STREAM_PATH = STREAM_PATH.replace("{session_id}", "{id}")


def _frame(kind: str, data: dict[str, Any], *, with_id: bool = False) -> dict[str, Any]:
    """One Server-Sent Event as `{event, data, id}`; `data` is a JSON text of `data`."""
    properties: dict[str, Any] = {
        "event": {"const": kind},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
    }
    required = ["event", "data", *(["id"] if with_id else [])]
    return {"type": "object", "required": required, "properties": properties}


def _stream_operation() -> dict[str, Any]:
    """OpenAPI 3.1 has no `itemSchema`; by the usual reading, `schema` describes each event."""
    end = {
        "type": "object",
        "required": ["lastSequence"],
        "properties": {"lastSequence": _SEQUENCE},
    }
    events = {
        "description": "One Server-Sent Event.",
        "oneOf": [
            _frame("event", _ref(Event), with_id=True),
            _frame("end", end),
            _frame("error", _ref(ErrorBody)),
        ],
    }
    stream = {
        "description": "`text/event-stream`, opened with `retry: "
        f"{RETRY_MS}`. Each stored event after the resume point, then each new one, as "
        "`event: event` with `id:` its sequence and `data:` the event as JSON. The stream "
        'ends with `event: end` (`data: {"lastSequence": N}`) once the session is terminal '
        "and fully delivered, or with `event: error` (an Error body) when the session is "
        "deleted or the key revoked. Comment lines keep an idle connection open.",
        "headers": {"Cache-Control": {"schema": {"type": "string", "const": "no-cache"}}},
        "content": {"text/event-stream": {"schema": events}},
    }
    finished = {
        "description": "The session is terminal and every event after the resume point "
        "was delivered: nothing to stream, and `EventSource` stops reconnecting."
    }
    after = _param(
        "query",
        "after",
        "Resume after this sequence, for clients that cannot send `Last-Event-ID`. "
        "Default 0: every stored event, then new ones.",
        _SEQUENCE,
    )
    last_event_id = _param(
        "header",
        "Last-Event-ID",
        "Resume after this sequence (the `id:` of the last event received); wins over "
        "`after`. Blank means from the start.",
        {"type": "string", "pattern": _SEQUENCE_TEXT},
    )
    return {
        "operationId": "streamEvents",
        "summary": "Stream a session's events (Server-Sent Events)",
        "description": "The same feed as the GraphQL `sessionEvents` subscription: no gap, "
        "no duplicate, in sequence order.",
        "tags": ["sessions"],
        "parameters": [_SESSION_ID, last_event_id, after],
        "responses": {"200": stream, "204": finished} | _errors((401, 404, 422, 429, 500)),
    }


@cache
def openapi_document() -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ErrorBody, "serialization"),
        (Event, "serialization"),
        *((op.body, "validation") for op in OPERATIONS if op.body is not None),
        *((op.success_model, "serialization") for op in OPERATIONS if op.success_model),
    ]
    _, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    paths[EVENT_STREAM_PATH] = {"get": _stream_operation()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessiongraph REST API",
            "version": "1",
            "description": "Generation sessions and their append-only event logs. "
            "The same data and rules as the GraphQL API at `/graphql`.",
        },
        "paths": paths,
        "components": {
            "schemas": {**definitions.get("$defs", {}), **JSON_SCHEMAS},
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer <key>`; a bare `<key>` works too.",
                }
            },
        },
        "security": [{"apiKey": []}],
    }


ASSETS = "/docs/assets"

PAGE = Template((STATIC / "docs.html").read_text()).substitute(assets=ASSETS)


async def openapi_json(_: Request) -> Response:
    return JSONResponse(openapi_document())


async def docs_page(_: Request) -> Response:
    return HTMLResponse(PAGE)


def docs_routes() -> list[BaseRoute]:
    """Public: the document and the page describe the API and need no key."""
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Mount(ASSETS, app=StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets"),
    ]
