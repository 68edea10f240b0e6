"""`/openapi.json`: OpenAPI 3.1, generated from the operation list and the pydantic models
the handlers validate with. Nothing here restates a field; it only arranges the schemas
pydantic prints and says which status carries which one.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from db.validation import MAX_JSON_NUMBER, MIN_JSON_NUMBER
from graph.live.sse import RETRY_MS, STREAM_PATH
from graph.rest.handlers import REPLAYED_HEADER
from graph.rest.models import NO_NUL, ErrorBody, Event
from graph.rest.operations import ERROR_MEANINGS, OPERATIONS, Operation
from graph.rest.wire import IDEMPOTENCY_HEADER

REF = "#/components/schemas/{model}"

# The free JSON objects (prd, payload, …): any JSON, except what no engine can store — a
# NUL character in a key or string, or a number beyond the 64-bit integers' range.
JSON_SCHEMAS: dict[str, Any] = {
    "JsonObject": {
        "type": "object",
        "description": "A free JSON object.",
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": {"$ref": REF.format(model="JsonValue")},
    },
    "JsonValue": {
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "number", "minimum": MIN_JSON_NUMBER, "maximum": MAX_JSON_NUMBER},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": {"$ref": REF.format(model="JsonValue")}},
            {"$ref": REF.format(model="JsonObject")},
        ]
    },
}

_SESSION_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Session id (`sess_` + 16 lowercase hex).",
    "schema": {"type": "string", "pattern": r"^sess_[0-9a-f]{16}$"},
}
_ETAG = {
    "description": "Strong validator of the session and its log; changes with either.",
    "required": True,
    "schema": {"type": "string"},
}


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
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
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return parameters


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if "{id}" in operation.path:
        parameters.append(_SESSION_ID)
    if operation.query is not None:
        parameters += _query_parameters(operation.query)
    if operation.idempotency_key:
        parameters.append(
            _header(
                IDEMPOTENCY_HEADER,
                "Makes the request safe to retry: a repeat with the same key and body gets the "
                "first response back and creates nothing; the same key with another body is "
                "422. Keys are kept 24 hours per organisation.",
                {"type": "string", "minLength": 1, "maxLength": 255},
            )
        )
    if operation.if_match:
        parameters.append(
            _header(
                "If-Match",
                "Apply only if the session still has this ETag (else 412, nothing changed).",
                {"type": "string"},
            )
        )
    if operation.if_none_match:
        parameters.append(
            _header(
                "If-None-Match",
                "Answer 304 without a body if the session still has this ETag.",
                {"type": "string"},
            )
        )
    return parameters


# The SSE path is served by graph/live/sse.py, not by an `Operation`: its answer is a stream, so
# none of the JSON operations' machinery applies. Its path parameter is spelled `{id}`
# here like on every other path.
EVENT_STREAM_PATH = STREAM_PATH.replace("{session_id}", "{id}")
STREAM_STATUSES = (401, 404, 422, 429, 500)
_SEQUENCE = {"type": "integer", "minimum": 0}


def _stream_parameters() -> list[dict[str, Any]]:
    """Where a client resumes: a browser's `EventSource` sends `Last-Event-ID` by itself on
    reconnect; `after` is the same for clients that cannot set headers."""
    return [
        _SESSION_ID,
        _header(
            "Last-Event-ID",
            "Resume after this sequence (the `id:` of the last event received); wins over "
            "`after`. Blank means from the start.",
            {"type": "string", "pattern": r"^\s*[0-9]*\s*$"},
        ),
        {
            "name": "after",
            "in": "query",
            "required": False,
            "description": "Resume after this sequence, for clients that cannot send "
            "`Last-Event-ID`. Default 0: every stored event, then new ones.",
            "schema": _SEQUENCE,
        },
    ]


def _frame(kind: str, data: dict[str, Any], *, with_id: bool = False) -> dict[str, Any]:
    """One Server-Sent Event as `{event, data, id}`; `data` is a JSON text of `data`."""
    properties: dict[str, Any] = {
        "event": {"const": kind},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": data,
        },
        "id": {"type": "string", "pattern": "^[0-9]+$"},
    }
    required = ["event", "data", *(["id"] if with_id else [])]
    return {"type": "object", "required": required, "properties": properties}


def _stream_response(refs: dict[Any, Any], error_ref: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.1 has no `itemSchema`; by the usual reading, `schema` describes each event."""
    events = {
        "description": "One Server-Sent Event.",
        "oneOf": [
            _frame("event", refs[(Event, "serialization")], with_id=True),
            _frame(
                "end",
                {
                    "type": "object",
                    "required": ["lastSequence"],
                    "properties": {"lastSequence": _SEQUENCE},
                },
            ),
            _frame("error", error_ref),
        ],
    }
    return {
        "description": "`text/event-stream`, opened with `retry: "
        f"{RETRY_MS}`. Each stored event after the resume point, then each new one, as "
        "`event: event` with `id:` its sequence and `data:` the event as JSON. The stream "
        'ends with `event: end` (`data: {"lastSequence": N}`) once the session is terminal '
        "and fully delivered, or with `event: error` (an Error body) when the session is "
        "deleted or the key revoked. Comment lines keep an idle connection open.",
        "headers": {"Cache-Control": {"schema": {"type": "string", "const": "no-cache"}}},
        "content": {"text/event-stream": {"schema": events}},
    }


def _stream_operation(refs: dict[Any, Any], error_ref: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": _stream_response(refs, error_ref),
        "204": {
            "description": "The session is terminal and every event after the resume point "
            "was delivered: nothing to stream, and `EventSource` stops reconnecting."
        },
    }
    for status in STREAM_STATUSES:
        responses[str(status)] = _error(status, error_ref)
    return {
        "operationId": "streamEvents",
        "summary": "Stream a session's events (Server-Sent Events)",
        "description": "The same feed as the GraphQL `sessionEvents` subscription: no gap, "
        "no duplicate, in sequence order.",
        "tags": ["sessions"],
        "parameters": _stream_parameters(),
        "responses": responses,
    }


def _success(operation: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": operation.success_description}
    headers: dict[str, Any] = {}
    if operation.location_header:
        headers["Location"] = {
            "description": "Path of the new session.",
            "required": True,
            "schema": {"type": "string"},
        }
    if operation.etag_header:
        headers["ETag"] = _ETAG
    if operation.idempotency_key:
        headers[REPLAYED_HEADER] = {
            "description": "`true` when this is the stored response to an earlier request.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if headers:
        response["headers"] = headers
    if operation.success_model is not None:
        response["content"] = _json(refs[(operation.success_model, "serialization")])
    return response


def _error(status: int, error_ref: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERROR_MEANINGS[status], "content": _json(error_ref)}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 405:
        response["headers"] = {"Allow": {"required": True, "schema": {"type": "string"}}}
    if status == 429:
        response["headers"] = {
            name: {"required": True, "schema": {"type": "string"}}
            for name in ("Retry-After", "RateLimit-Policy", "RateLimit")
        }
    return response


@cache
def openapi_document() -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ErrorBody, "serialization"),
        (Event, "serialization"),
    ]
    for operation in OPERATIONS:
        if operation.body is not None:
            wanted.append((operation.body, "validation"))
        if operation.success_model is not None:
            wanted.append((operation.success_model, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    schemas = {**definitions.get("$defs", {}), **JSON_SCHEMAS}
    error_ref = refs[(ErrorBody, "serialization")]

    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        responses: dict[str, Any] = {str(operation.success_status): _success(operation, refs)}
        if operation.if_none_match:
            responses["304"] = {
                "description": "Not modified: the session still has the ETag you sent.",
                "headers": {"ETag": _ETAG},
            }
        for status in operation.statuses:
            responses[str(status)] = _error(status, error_ref)
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": ["sessions"],
            "parameters": _parameters(operation),
            "responses": responses,
        }
        if operation.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": _json(refs[(operation.body, "validation")]),
            }
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry
    paths[EVENT_STREAM_PATH] = {"get": _stream_operation(refs, error_ref)}

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
            "schemas": schemas,
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
