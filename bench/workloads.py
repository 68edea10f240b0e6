"""The measured workloads: what is sent to the real server and to the floor, and how hard.

Each workload is a list of request variants (rotated by the load generator) for each of
the two servers; both answer with the same JSON. q1, q2 and REST GET also have variants for
the JSON floor (bench/floor_json.py), which answers the Python floor's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

Q1 = (
    "query Q1($id: ID!) { session(id: $id) { id organizationId userId status assemblyState"
    " catalogVersion plan prd productObject productObjectHash schemaVersion createdAt"
    " updatedAt expiresAt eventCount events(first: 20) { nodes { id sequence sessionId"
    " organizationId userId type stage message payload createdAt } } } }"
)
Q2 = (
    "query Q2 { sessions(first: 20) { nodes { id status"
    " events(first: 20) { nodes { id type message } } } } }"
)
PAGE = (
    "query Page($after: String) { sessions(first: 100, after: $after) {"
    " nodes { id status createdAt } pageInfo { hasNextPage endCursor } } }"
)
APPEND = (
    "mutation Append($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO,"
    ' stage: "generating", message: "benchmark"}) { id sequence createdAt } }'
)
REST_PREFIX = "/v1/products/generation/sessions"
APPEND_BODY = {"type": "info", "stage": "generating", "message": "benchmark"}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    server: list[Request]
    floor: list[Request]
    concurrency: int = 16
    needs_rest: bool = False
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    json_floor: list[Request] = field(default_factory=list)


def _json_headers(key: str) -> tuple[tuple[str, str], ...]:
    return (("Content-Type", "application/json"), ("Authorization", f"Bearer {key}"))


def graphql(key: str, query: str, variables: dict[str, object] | None = None) -> Request:
    body: dict[str, object] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return Request("POST", "/graphql", orjson.dumps(body), _json_headers(key))


def floor_get(key: str, path: str) -> Request:
    return Request("GET", path, b"", (("Authorization", f"Bearer {key}"),))


def build(
    key: str,
    pages_key: str,
    read_ids: list[str],
    write_ids: list[str],
    deep_cursor: str,
    deep_rows: int,
    concurrency: int,
) -> list[Workload]:
    sample = read_ids[: min(len(read_ids), 200)]
    return [
        Workload(
            "q1",
            [graphql(key, Q1, {"id": sid}) for sid in sample],
            [floor_get(key, f"/q1/{sid}") for sid in sample],
            concurrency,
            notes="one session, all fields, its 20 events with all fields",
            json_floor=[floor_get(key, f"/json/q1/{sid}") for sid in sample],
        ),
        Workload(
            "q2",
            [graphql(key, Q2)],
            [floor_get(key, "/q2")],
            concurrency,
            notes="20 sessions (id, status) with 20 events each (id, type, message)",
            json_floor=[floor_get(key, "/json/q2")],
        ),
        Workload(
            "rest_get",
            [floor_get(key, f"{REST_PREFIX}/{sid}") for sid in sample],
            [floor_get(key, f"/rest/{sid}") for sid in sample],
            concurrency,
            needs_rest=True,
            notes="REST GET /:id (session with its events)",
            json_floor=[floor_get(key, f"/json/rest/{sid}") for sid in sample],
        ),
        Workload(
            "rest_append",
            [
                Request(
                    "POST",
                    f"{REST_PREFIX}/{sid}/events",
                    orjson.dumps(APPEND_BODY),
                    _json_headers(key),
                )
                for sid in write_ids
            ],
            [
                Request(
                    "POST", f"/rest/{sid}/events", orjson.dumps(APPEND_BODY), _json_headers(key)
                )
                for sid in write_ids
            ],
            16,
            needs_rest=True,
            notes="REST POST /:id/events, 16 concurrent writers",
        ),
        Workload(
            "graphql_append",
            [graphql(key, APPEND, {"s": sid}) for sid in write_ids],
            [
                Request("POST", f"/append/{sid}", orjson.dumps(APPEND_BODY), _json_headers(key))
                for sid in write_ids
            ],
            16,
            notes="GraphQL appendEvent, 16 concurrent writers",
        ),
        Workload(
            "page_first",
            [graphql(pages_key, PAGE, {"after": None})],
            [floor_get(pages_key, "/page")],
            concurrency,
            notes="sessions(first: 100), first page",
        ),
        Workload(
            "page_deep",
            [graphql(pages_key, PAGE, {"after": deep_cursor})],
            [floor_get(pages_key, f"/page?after={deep_cursor}")],
            concurrency,
            notes=f"sessions(first: 100) after {deep_rows:,} rows",
        ),
    ]
