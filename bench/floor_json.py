"""The JSON floor: the database writes each answer's whole JSON text, Python passes it on.

For q1, q2 and REST GET /:id one SQL statement does everything: the key lookup, the
tenant-scoped reads and the response body, built as text by concatenation (PostgreSQL:
`to_json(x)::text` and `string_agg`; SQLite: `json_quote(x)` and `group_concat` over an
ordered subquery). Stored JSON columns are embedded as they are stored (compact orjson
text), timestamps are formatted as the Python floor formats them, and nothing is decoded
in Python. The answers are byte for byte those of the Python-assembled floor
(bench/floor.py), which the harness checks before measuring and tests/bench asserts.

Served by the floor's app under `/json/…` (see `routes`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UNAUTHENTICATED = '{"error":"unauthenticated"}'
REST_UNAUTHENTICATED = '{"error":{"code":"unauthenticated"}}'
REST_NOT_FOUND = '{"error":{"code":"not_found","message":"not found"}}'

# (JSON key, how the value is written, SQL expression); kinds: "value" (string or number),
# "upper" (an enum in GraphQL), "json" (stored JSON text), "stamp" (timestamp) and "raw"
# (the expression is already the value's JSON text: a nested array or object).
Field = tuple[str, str, str]
SESSION_FIELDS: list[Field] = [
    ("id", "value", "s.id"),
    ("organizationId", "value", "s.organization_id"),
    ("userId", "value", "s.user_id"),
    ("status", "enum", "s.status"),
    ("assemblyState", "json", "s.assembly_state"),
    ("catalogVersion", "value", "s.catalog_version"),
    ("plan", "json", "s.plan"),
    ("prd", "json", "s.prd"),
    ("productObject", "json", "s.product_object"),
    ("productObjectHash", "value", "s.product_object_hash"),
    ("schemaVersion", "value", "s.schema_version"),
    ("createdAt", "stamp", "s.created_at"),
    ("updatedAt", "stamp", "s.updated_at"),
    ("expiresAt", "stamp", "s.expires_at"),
]
EVENT_FIELDS: list[Field] = [
    ("id", "value", "e.id"),
    ("sequence", "value", "e.sequence"),
    ("sessionId", "value", "e.session_id"),
    ("organizationId", "value", "e.organization_id"),
    ("userId", "value", "e.user_id"),
    ("type", "enum", "e.type"),
    ("stage", "value", "e.stage"),
    ("message", "value", "e.message"),
    ("payload", "json", "e.payload"),
    ("createdAt", "stamp", "e.created_at"),
]
Q2_SESSION_FIELDS: list[Field] = [("id", "value", "s.id"), ("status", "enum", "s.status")]
Q2_EVENT_FIELDS: list[Field] = [
    ("id", "value", "e.id"),
    ("type", "enum", "e.type"),
    ("message", "value", "e.message"),
]
SESSION_BY_ID = "sessions s WHERE s.id = {id} AND s.organization_id = k.organization_id"
Q1_EVENTS = (
    "events e WHERE e.session_id = s.id AND e.sequence BETWEEN 1 AND"
    " (CASE WHEN s.last_sequence < 20 THEN s.last_sequence ELSE 20 END)"
)
Q2_SESSIONS = (
    "(SELECT id, status, created_at FROM sessions WHERE organization_id = k.organization_id"
    " ORDER BY created_at DESC, id DESC LIMIT 20) s"
)
Q2_EVENTS = "events e WHERE e.session_id = s.id AND e.sequence BETWEEN 1 AND 20"
ALL_EVENTS = "events e WHERE e.session_id = s.id AND e.sequence BETWEEN 1 AND s.last_sequence"


def _text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _key(key: str, *, first: bool) -> str:
    """The SQL literal that opens (`first`) or continues an object, up to a key's colon."""
    return _text(("{" if first else ",") + '"' + key + '":')


@dataclass(frozen=True, slots=True)
class Dialect:
    """Writes the statements for PostgreSQL (`postgres`) or SQLite."""

    postgres: bool
    graphql: bool = True

    def param(self, index: int) -> str:
        return f"${index}" if self.postgres else f"?{index}"

    def value(self, kind: str, expr: str) -> str:
        """SQL for the JSON text of one field's value."""
        if kind == "raw":
            return expr
        if kind == "enum" and self.graphql:
            expr = f"upper({expr})"
        if kind in ("value", "enum"):
            if self.postgres:
                return f"coalesce(to_json({expr})::text, 'null')"
            return f"json_quote({expr})"
        if kind == "json":
            return f"coalesce({expr}{'::text' if self.postgres else ''}, 'null')"
        if self.postgres:  # "stamp": 2024-06-10T09:15:30.123Z, milliseconds truncated
            stamp = f"""to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
            return f"""'"' || {stamp} || '"'"""
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff'
        return f"""'"' || substr({expr}, 1, 10) || 'T' || substr({expr}, 12, 12) || 'Z"'"""

    def obj(self, fields: list[Field]) -> str:
        """SQL for a JSON object's text."""
        parts = [
            f"{_key(key, first=i == 0)} || {self.value(kind, expr)}"
            for i, (key, kind, expr) in enumerate(fields)
        ]
        return " || ".join([*parts, "'}'"])

    def array(self, item: str, source: str, order: str) -> str:
        """SQL for the JSON array text of `item` over `source`'s rows in `order`."""
        if self.postgres:
            joined = f"(SELECT string_agg({item}, ',' ORDER BY {order}) FROM {source})"
        else:  # group_concat follows the order of an ordered subquery
            joined = (
                f"(SELECT group_concat(j, ',') FROM"
                f" (SELECT {item} AS j FROM {source} ORDER BY {order}))"
            )
        return f"'[' || coalesce({joined}, '') || ']'"

    def nodes(self, item: str, source: str, order: str) -> str:
        return f"""'{{"nodes":' || {self.array(item, source, order)} || '}}'"""

    def authorized(self, body: str) -> str:
        """One row with `body` when the key (parameter 1) is valid, none otherwise; `body`
        sees the key's organisation as `k.organization_id`."""
        return (
            f"SELECT {body} FROM api_keys k JOIN organizations o ON o.id = k.organization_id"
            f" WHERE k.key_hash = {self.param(1)} AND k.revoked_at IS NULL"
        )

    def q1(self) -> str:
        events = self.nodes(self.obj(EVENT_FIELDS), Q1_EVENTS, "e.sequence")
        fields = [*SESSION_FIELDS, ("eventCount", "value", "s.last_sequence")]
        session = self.obj([*fields, ("events", "raw", events)])
        found = f"(SELECT {session} FROM {SESSION_BY_ID.format(id=self.param(2))})"
        return self.authorized(
            f"""'{{"data":{{"session":' || coalesce({found}, 'null') || '}}}}'"""
        )

    def q2(self) -> str:
        events = self.nodes(self.obj(Q2_EVENT_FIELDS), Q2_EVENTS, "e.sequence")
        node = self.obj([*Q2_SESSION_FIELDS, ("events", "raw", events)])
        sessions = self.nodes(node, Q2_SESSIONS, "s.created_at DESC, s.id DESC")
        return self.authorized(f"""'{{"data":{{"sessions":' || {sessions} || '}}}}'""")

    def rest_get(self) -> str:
        rest = Dialect(self.postgres, graphql=False)
        events = rest.array(rest.obj(EVENT_FIELDS), ALL_EVENTS, "e.sequence")
        session = rest.obj([*SESSION_FIELDS, ("events", "raw", events)])
        return self.authorized(f"(SELECT {session} FROM {SESSION_BY_ID.format(id=self.param(2))})")


def _json(text: str, status: int = 200) -> Response:
    return Response(text, status, media_type="application/json")


class JsonFloor:
    """The three endpoints; `store` is the floor's (bench/floor.py: `fetch`, `key_hash`)."""

    def __init__(self, store: Any, *, postgres: bool) -> None:
        self.store = store
        dialect = Dialect(postgres)
        self.q1_sql, self.q2_sql, self.rest_sql = dialect.q1(), dialect.q2(), dialect.rest_get()

    async def q1(self, request: Request) -> Response:
        rows = await self.store.fetch(self.q1_sql, key_hash(request), request.path_params["id"])
        return _json(rows[0][0]) if rows else _json(UNAUTHENTICATED, 401)

    async def q2(self, request: Request) -> Response:
        rows = await self.store.fetch(self.q2_sql, key_hash(request))
        return _json(rows[0][0]) if rows else _json(UNAUTHENTICATED, 401)

    async def rest_get(self, request: Request) -> Response:
        rows = await self.store.fetch(self.rest_sql, key_hash(request), request.path_params["id"])
        if not rows:
            return _json(REST_UNAUTHENTICATED, 401)
        return _json(rows[0][0]) if rows[0][0] is not None else _json(REST_NOT_FOUND, 404)

    def routes(self) -> list[Route]:
        return [
            Route("/json/q1/{id}", self.q1, methods=["GET"]),
            Route("/json/q2", self.q2, methods=["GET"]),
            Route("/json/rest/{id}", self.rest_get, methods=["GET"]),
        ]


def key_hash(request: Request) -> str:
    """The SHA-256 of the request's bearer key, as `api_keys.key_hash` keeps it."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return hashlib.sha256(key.encode()).hexdigest()
