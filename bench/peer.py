"""PostGraphile v5, the peer: the same q1 and q2 on the same PostgreSQL database.

Its npm packages are pinned in bench/postgraphile/package-lock.json and installed there with
`npm ci` on first use; `graphile.config.mjs` beside them sets it up (the Amber preset, no
auth, no GraphiQL). One Node process on a free loopback port; Node 20 gets
`Promise.withResolvers` from `polyfill.cjs` through NODE_OPTIONS.

PostGraphile names things its own way: a table's `id` column is `rowId` (`id` is its global
node id), `sessionByRowId(rowId:)`, `allSessions`, and a session's events are the
connection `eventsBySessionId`. `as_ours` renames its answer into ours, so `differences`
can check, once before measuring, that both return the same sessions and events.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import node
from bench.servers import Server, free_port, serving
from bench.workloads import Request

FOLDER = Path(__file__).resolve().parent / "postgraphile"
ORGANIZATION = "org_bench_reads"  # PostGraphile has no auth: q2's tenant is a condition
EVENT_FIELDS = "rowId sequence sessionId organizationId userId type stage message payload createdAt"
Q1 = (
    "query Q1($id: String!) { sessionByRowId(rowId: $id) { rowId organizationId userId status"
    " assemblyState catalogVersion plan prd productObject productObjectHash schemaVersion"
    " createdAt updatedAt expiresAt lastSequence"
    f" eventsBySessionId(first: 20, orderBy: SEQUENCE_ASC) {{ nodes {{ {EVENT_FIELDS} }} }} }} }}"
)
Q2 = (
    f'query Q2 {{ allSessions(first: 20, condition: {{organizationId: "{ORGANIZATION}"}},'
    " orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { nodes { rowId status"
    " eventsBySessionId(first: 20, orderBy: SEQUENCE_ASC) { nodes { rowId type message } } } } }"
)
RENAMED = {
    "sessionByRowId": "session",
    "allSessions": "sessions",
    "rowId": "id",
    "lastSequence": "eventCount",
    "eventsBySessionId": "events",
}
ENUMS = {"status", "type"}  # text in PostgreSQL and PostGraphile, upper-case enums in ours
STAMPS = {"createdAt", "updatedAt", "expiresAt"}
JSON_VALUES = {"assemblyState", "plan", "prd", "productObject", "payload"}  # left as they are


def graphql(query: str, variables: dict[str, object] | None = None) -> Request:
    body: dict[str, object] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return Request("POST", "/graphql", orjson.dumps(body), (("Content-Type", "application/json"),))


def requests(read_ids: list[str]) -> dict[str, list[Request]]:
    """PostGraphile's variants of q1 and q2 (same sessions as bench/workloads.py)."""
    sample = read_ids[: min(len(read_ids), 200)]
    return {"q1": [graphql(Q1, {"id": sid}) for sid in sample], "q2": [graphql(Q2)]}


def unavailable() -> str | None:
    """Why PostGraphile can't run here (Node or npm missing), or None."""
    reason = node.missing()
    return f"PostGraphile skipped: {reason}" if reason else None


def _ready(url: str) -> bool:
    response = httpx.post(url + "/graphql", json={"query": "{ __typename }"}, timeout=2)
    return response.status_code == 200


@contextmanager
def running(database_url: str, *, within: float = 90) -> Iterator[Server]:
    """PostGraphile on `database_url` (installed first if need be) until the block ends."""
    node.install(FOLDER, "postgraphile")
    port = free_port()
    polyfill = FOLDER / "polyfill.cjs"
    env = {
        "BENCH_POSTGRAPHILE_DATABASE_URL": database_url,
        "BENCH_POSTGRAPHILE_PORT": str(port),
        "NODE_ENV": "production",
        "GRAPHILE_ENV": "production",
        "NODE_OPTIONS": f'{os.environ.get("NODE_OPTIONS", "")} --require "{polyfill}"'.strip(),
    }
    command = [
        shutil.which("node") or "node",
        str(FOLDER / "node_modules" / "postgraphile" / "dist" / "cli-run.js"),
        "--config",
        str(FOLDER / "graphile.config.mjs"),
    ]
    with serving("postgraphile", command, env, port, _ready, cwd=FOLDER, within=within) as server:
        yield server


def _stamp(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def as_ours(value: Any, key: str = "") -> Any:
    """PostGraphile's answer with our names, enums and timestamp format."""
    if isinstance(value, dict):
        return {
            RENAMED.get(k, k): v if k in JSON_VALUES else as_ours(v, k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [as_ours(v) for v in value]
    if isinstance(value, str) and key in ENUMS:
        return value.upper()
    if isinstance(value, str) and key in STAMPS:
        return _stamp(value)
    return value


def _sessions(answer: Any) -> list[Any]:
    data = (answer or {}).get("data") or {}
    if "session" in data:
        return [data["session"]] if data["session"] else []
    return list(((data.get("sessions") or {}).get("nodes")) or [])


def _counts(answer: Any) -> tuple[int, int]:
    sessions = _sessions(answer)
    return len(sessions), sum(len(s.get("events", {}).get("nodes", [])) for s in sessions)


def _first_difference(ours: Any, theirs: Any, path: str = "") -> str | None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in ours.keys() | theirs.keys():
            if key not in ours or key not in theirs:
                return f"{path}.{key}: only in {'ours' if key in ours else 'PostGraphile'}"
            found = _first_difference(ours[key], theirs[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if ours == theirs else f"{path}: ours {ours!r}, PostGraphile {theirs!r}"


def differences(workload: str, ours: Any, theirs: Any) -> str | None:
    """None when PostGraphile's answer (as `as_ours`) has the server's sessions and events,
    field for field; else what differs, counts first."""
    if "errors" in (theirs or {}):
        return f"{workload}: PostGraphile answered errors: {theirs['errors']}"
    mine, peer = _counts(ours), _counts(as_ours(theirs))
    if mine != peer:
        return (
            f"{workload}: PostGraphile's answer differs in size: {peer[0]} sessions and"
            f" {peer[1]} events, the server's {mine[0]} and {mine[1]}"
        )
    found = _first_difference(ours, as_ours(theirs))
    return (
        f"{workload}: PostGraphile's data differs from the server's at {found}" if found else None
    )
