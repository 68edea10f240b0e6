"""Operation limits: each provoked at and one past its boundary, refused before any SQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.plan.limits import Limits
from graph.schema.build import Schema, build_schema
from graph.schema.context import Context
from graph.settings import Settings
from tests.support.graphql import GraphQLClient
from tests.support.server import running_server
from tests.support.statements import count_statements

# Statement counts: through PgBouncer too (tests/conftest.py).
pytestmark = pytest.mark.pgbouncer

DEEP5 = "{ sessions { nodes { events { nodes { id } } } } }"
DEEP6 = "{ sessions { edges { node { events { nodes { id } } } } } }"


def nested_garbage(depth: int) -> str:
    return "{ " + "a { " * (depth - 1) + "b" + " }" * depth


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


def tokens(count: int) -> str:
    """A valid document of exactly `count` tokens (16 around the list of statuses)."""
    return "{ sessions(filter: {status: [" + "PENDING " * (count - 16) + "]}) { totalCount } }"


def budget(sessions: int, events: int) -> str:
    return f"{{ sessions(first: {sessions}) {{ nodes {{ events(first: {events}) {{ nodes {{ id }} }} }} }} }}"


VARIABLE_BUDGET = "query($s: Int, $e: Int) { sessions(first: $s) { nodes { events(first: $e) { nodes { id } } } } }"
VARIABLE_PAGE = "query($n: Int) { sessions(first: $n) { nodes { id } } }"


async def run(
    schema: Schema,
    db: Database,
    principal: Principal,
    query: str,
    variables: dict[str, Any] | None = None,
) -> tuple[Any, int]:
    """Execute through the schema alone, counting every statement any engine runs."""
    context = Context(db=db, principal=principal, session_ttl_seconds=3600)
    with count_statements(db) as counter:
        result = await schema.execute(query, variables, context_value=context)
    return result, counter.count


def refused(result: Any, limit: str) -> dict[str, Any]:
    assert result.data is None
    assert result.errors is not None and len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert error.extensions["code"] == "BAD_USER_INPUT"
    assert error.extensions["limit"] == limit
    assert f"limit: {limit}" in error.message
    return dict(error.extensions)


CASES: list[tuple[str, Limits, str, str | None, dict[str, Any] | None]] = [
    # (limit, limits, query at the boundary, query one past, variables)
    ("depth", Limits(max_depth=5), DEEP5, DEEP6, None),
    ("aliases", Limits(), aliases(15), aliases(16), None),
    ("tokens", Limits(), tokens(2000), tokens(2001), None),
    ("nodes", Limits(), budget(99, 100), budget(100, 100), None),
    ("nodes", Limits(max_nodes=120), budget(20, 5), budget(20, 6), None),
    (
        "pageSize",
        Limits(),
        "{ sessions(first: 100) { nodes { id } } }",
        "{ sessions(first: 101) { nodes { id } } }",
        None,
    ),
    (
        "pageSize",
        Limits(),
        "{ sessions(first: 1) { nodes { id } } }",
        "{ sessions(first: 0) { nodes { id } } }",
        None,
    ),
]


@pytest.mark.parametrize(("limit", "limits", "at", "past", "variables"), CASES)
async def test_limit_at_and_past_boundary(
    db: Database,
    principal: Principal,
    limit: str,
    limits: Limits,
    at: str,
    past: str,
    variables: dict[str, Any] | None,
) -> None:
    schema = build_schema(limits=limits)
    result, _ = await run(schema, db, principal, at, variables)
    assert result.errors is None, result.errors
    result, statements = await run(schema, db, principal, past, variables)
    refused(result, limit)
    assert statements == 0


@pytest.mark.parametrize(
    ("variables", "ok"),
    [
        ({"s": 99, "e": 100}, True),
        ({"s": 100, "e": 100}, False),
        ({"s": 100}, False),  # events default to 100 when unbounded
        ({"s": 100, "e": 99}, True),
        ({}, True),  # 20 sessions (the default) x 100 events
    ],
)
async def test_node_budget_follows_variables(
    db: Database, principal: Principal, variables: dict[str, Any], ok: bool
) -> None:
    """The same cached document is allowed or refused by the values of its variables."""
    schema = build_schema()
    result, statements = await run(schema, db, principal, VARIABLE_BUDGET, variables)
    if ok:
        assert result.errors is None, result.errors
    else:
        refused(result, "nodes")
        assert statements == 0


@pytest.mark.parametrize(
    ("n", "ok"), [(1, True), (100, True), (0, False), (101, False), (-5, False)]
)
async def test_page_size_from_variables(
    db: Database, principal: Principal, n: int, ok: bool
) -> None:
    schema = build_schema()
    # Warm the validation cache with an allowed value, then send the refused one.
    await run(schema, db, principal, VARIABLE_PAGE, {"n": 10})
    result, statements = await run(schema, db, principal, VARIABLE_PAGE, {"n": n})
    if ok:
        assert result.errors is None, result.errors
    else:
        assert refused(result, "pageSize")["field"] == "first"
        assert statements == 0


async def test_depth_counts_unknown_fields(db: Database, principal: Principal) -> None:
    """A deep document is refused for its depth even when its fields do not exist."""
    schema = build_schema()
    result, statements = await run(schema, db, principal, nested_garbage(11))
    assert any(e.extensions.get("limit") == "depth" for e in result.errors)
    assert statements == 0
    result, _ = await run(schema, db, principal, nested_garbage(10))
    assert not any(e.extensions.get("limit") == "depth" for e in result.errors)


async def test_aliases_in_fragments_count(db: Database, principal: Principal) -> None:
    query = (
        "{ ...F } fragment F on Query { " + " ".join(f"x{i}: __typename" for i in range(16)) + " }"
    )
    result, statements = await run(build_schema(), db, principal, query)
    refused(result, "aliases")
    assert statements == 0


async def test_budget_multiplies_through_fragments(db: Database, principal: Principal) -> None:
    query = (
        "query { sessions(first: 100) { ...S } } "
        "fragment S on SessionConnection { nodes { ...E } } "
        "fragment E on Session { events(last: 100) { nodes { id } } }"
    )
    result, statements = await run(build_schema(), db, principal, query)
    refused(result, "nodes")
    assert statements == 0


async def test_huge_document_is_refused_before_parsing(db: Database, principal: Principal) -> None:
    query = "{ " + "__typename " * 10_000 + "}"
    result, statements = await run(build_schema(), db, principal, query)
    refused(result, "tokens")
    assert statements == 0


async def test_timeout_is_a_named_error(db: Database, principal: Principal) -> None:
    """A limit so small that the first database round trip exceeds it."""
    schema = build_schema(limits=Limits(timeout_seconds=1e-9))
    result, _ = await run(schema, db, principal, "{ sessions { totalCount } }")
    assert result.data is None
    [error] = result.errors
    assert error.extensions["code"] == "TIMEOUT"
    assert error.extensions["limit"] == "timeout"
    # A write cut short leaves nothing half done, and the database stays usable.
    create = "mutation { createSession(input: {}) { id } }"
    for _ in range(3):
        result, _ = await run(schema, db, principal, create)
        assert result.errors[0].extensions["code"] == "TIMEOUT"
    result, _ = await run(build_schema(), db, principal, create)
    assert result.errors is None
    result, _ = await run(build_schema(), db, principal, "{ sessions { totalCount } }")
    assert result.errors is None
    assert result.data["sessions"]["totalCount"] in range(1, 5)


async def test_limit_errors_over_http(gql: GraphQLClient, db: Database) -> None:
    """The wire shape: HTTP 200 (GraphQL errors), the limit named, no data touched."""
    with count_statements(db) as counter:
        body = await gql(budget(100, 100))
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["limit"] == "nodes"
    # Only the caller's key (and plan) is looked up.
    assert counter.statements
    assert all("FROM api_keys" in s or "rate_windows" in s for s in counter.statements)


async def test_batching_is_off_by_default(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql",
        json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}],
        headers=gql.headers(),
    )
    assert response.status_code == 400
    assert "atching" in response.text


async def test_batching_capped_when_enabled(database_url: str, db: Database, api_key: str) -> None:
    settings = Settings(database_url=database_url, auto_migrate=False, graphql_max_operations=3)
    async with (
        running_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        headers = {"Authorization": f"Bearer {api_key}"}
        batch = [{"query": "{ __typename }"}] * 3
        response = await http.post("/graphql", json=batch, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == [{"data": {"__typename": "Query"}}] * 3
        response = await http.post("/graphql", json=[*batch, batch[0]], headers=headers)
        assert response.status_code == 400
        assert "Too many operations" in response.text


@pytest.mark.parametrize("links", [50, 1_500])
async def test_long_fragment_chains_are_clear_errors(
    db: Database, principal: Principal, links: int
) -> None:
    """Chains of spreads (allowed here by a large token limit) never overflow the stack."""
    chain = " ".join(f"fragment F{i} on Query {{ a {{ ...F{i + 1} }} }}" for i in range(links))
    query = "{ ...F0 } " + chain + f" fragment F{links} on Query {{ __typename }}"
    schema = build_schema(limits=Limits(max_tokens=1_000_000))
    result, statements = await run(schema, db, principal, query)
    assert result.errors
    assert all(e.extensions["code"] == "BAD_USER_INPUT" for e in result.errors)
    assert statements == 0
