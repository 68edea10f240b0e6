"""`maxRequestsPerMinute` on the wire: 429, Retry-After, RateLimit fields, shared by processes."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from graphql import GraphQLError

from db.errors import RateLimited
from db.keys import authenticate, set_plan
from db.store.engine import Database
from graph.http.auth import admit, refusal
from graph.schema.errors import graphql_error
from tests.conftest import new_key
from tests.support.graphql import GraphQLClient
from tests.support.processes import server_process

QUERY = "{ sessions { totalCount } }"
POLICY = re.compile(r'^"org-per-minute";q=(\d+);w=60$')
STATE = re.compile(r'^"org-per-minute";r=(\d+);t=(\d+)$')


async def away_from_minute_end() -> None:
    """Budgets are per UTC minute; start a burst early in one so it stays within it."""
    into = time.time() % 60
    if into > 45:
        await asyncio.sleep(60.5 - into)


async def test_over_the_limit_is_429_with_headers(
    gql: GraphQLClient, db: Database, api_key: str
) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=3)
    await away_from_minute_end()
    remaining = []
    for _ in range(3):
        response = await gql.post(QUERY, key=key)
        assert response.status_code == 200, response.text
        assert POLICY.match(response.headers["RateLimit-Policy"]).group(1) == "3"  # type: ignore[union-attr]
        remaining.append(int(STATE.match(response.headers["RateLimit"]).group(1)))  # type: ignore[union-attr]
    assert remaining == [2, 1, 0]

    refused = await gql.post(QUERY, key=key)
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    state = STATE.match(refused.headers["RateLimit"])
    assert state is not None and state.group(1) == "0" and int(state.group(2)) == retry_after
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == retry_after
    assert "3 requests per minute" in error["message"]

    # Another organisation is not affected.
    assert (await gql.post(QUERY)).status_code == 200


async def test_raising_the_limit_applies_at_once(gql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=1)
    await away_from_minute_end()
    assert (await gql.post(QUERY, key=key)).status_code == 200
    assert (await gql.post(QUERY, key=key)).status_code == 429
    await set_plan(db, principal.organization_id, max_requests_per_minute=2)
    assert (await gql.post(QUERY, key=key)).status_code == 200
    assert (await gql.post(QUERY, key=key)).status_code == 429


async def test_unknown_keys_spend_nothing(gql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=1)
    await away_from_minute_end()
    for _ in range(3):
        assert (await gql.post(QUERY, key="sgk_" + "0" * 40)).status_code == 401
    assert (await gql.post(QUERY, key=key)).status_code == 200


@pytest.mark.timeout(120)
async def test_limit_is_shared_by_two_server_processes(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=12)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        server_process(database_url, tmp_path) as first,
        server_process(database_url, tmp_path) as second,
    ):
        await away_from_minute_end()
        async with httpx.AsyncClient(timeout=30) as http:

            async def hit(url: str) -> int:
                response = await http.post(url + "/graphql", json={"query": QUERY}, headers=headers)
                return response.status_code

            statuses = await asyncio.gather(
                *(hit(server.url) for _ in range(10) for server in (first, second))
            )
    assert statuses.count(200) == 12
    assert statuses.count(429) == 8


async def test_websocket_operations_spend_the_same_budget(gql: GraphQLClient, db: Database) -> None:
    """`admit` is what a long-lived connection calls per operation; it shares the HTTP
    budget and its refusal maps to RATE_LIMITED like any domain error."""
    first, key = await new_key(db)
    await set_plan(db, first.organization_id, max_requests_per_minute=2)
    principal = await authenticate(db, key)  # a connection resolves its key when it opens
    await away_from_minute_end()
    assert (await admit(db, principal)).allowed
    assert (await gql.post(QUERY, key=key)).status_code == 200
    decision = await admit(db, principal)
    assert not decision.allowed
    refused = refusal(decision)
    assert isinstance(refused, RateLimited)
    assert (await gql.post(QUERY, key=key)).status_code == 429
    mapped = graphql_error(GraphQLError("x", original_error=refused), production=True)
    assert mapped.extensions == {
        "code": "RATE_LIMITED",
        "retryAfter": refused.retry_after_seconds,
    }
