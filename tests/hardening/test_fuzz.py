"""Generated GraphQL operations (schemathesis, GraphQL mode) against a real server.

Every operation of `schema.graphql` is fuzzed with a fixed seed and a bounded number of
examples; no answer may be a 5xx or carry an `INTERNAL` error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from db.keys import set_plan
from db.store.engine import Database
from tests.conftest import new_key
from tests.support.processes import server_process

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
EXAMPLES = 40


def problems_of(response: httpx.Response) -> list[str]:
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:500]}"]
    body: dict[str, Any] = response.json()
    return [
        f"INTERNAL: {error}"
        for error in body.get("errors") or []
        if (error.get("extensions") or {}).get("code") == "INTERNAL"
    ]


def fuzz(url: str, key: str, examples: int) -> list[str]:
    schema = schemathesis.graphql.from_path(str(SCHEMA))
    found: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy())
            def run(case: Any) -> None:
                response = http.post("/graphql", json={"query": case.body})
                found.extend(
                    f"{case.operation.label}: {p}\n{case.body}" for p in problems_of(response)
                )

            run()
    return found


@pytest.mark.timeout(600)
async def test_generated_operations_never_fail_internally(
    database_url: str, db: Database, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=1_000_000)
    examples = EXAMPLES * 10 if request.config.getoption("--long") else EXAMPLES
    with server_process(database_url, tmp_path) as server:
        found = await asyncio.to_thread(fuzz, server.url, key, examples)
    assert not found, "\n\n".join(found[:10])
