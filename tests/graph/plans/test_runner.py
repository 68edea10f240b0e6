"""The runner: documents are parsed and validated once, then run compiled; fallbacks hold."""

from __future__ import annotations

from typing import Any

import graph.fast.runner
import httpx
import pytest
import strawberry.extensions.parser_cache
import strawberry.schema.schema
from graph.fast.runner import OperationRunner
from starlette.applications import Starlette
from strawberry.extensions import MaskErrors

from graph.graphql_http import GraphQLEndpoint
from graph.schema import build_schema
from tests.support.graphql import GraphQLClient
from tests.support.statements import count_statements

Q1 = "query($id: ID!) { session(id: $id) { id status eventCount events { nodes { sequence type message } } } }"
APPEND = 'mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO, message: "m"}) { sequence } }'


def runner_of(app: Starlette) -> OperationRunner:
    for route in app.routes:
        if getattr(route, "path", None) == "/graphql":
            endpoint = route.endpoint.app  # type: ignore[attr-defined]
            assert isinstance(endpoint, GraphQLEndpoint)
            return endpoint.runner
    raise AssertionError("no /graphql route")


class Counter:
    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.wrapped(*args, **kwargs)


async def test_repeated_document_is_parsed_and_validated_once(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    parse = Counter(strawberry.extensions.parser_cache.parse)
    validate = Counter(strawberry.schema.schema.validate)
    strawberry.extensions.parser_cache._get_parse_cache.cache_clear()
    monkeypatch.setattr(strawberry.extensions.parser_cache, "parse", parse)
    monkeypatch.setattr(strawberry.schema.schema, "validate", validate)
    monkeypatch.setattr(graph.fast.runner, "parse", parse)
    sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"]["id"]
    parse.calls = validate.calls = 0
    first = await gql.data(Q1, {"id": sid})
    for _ in range(10):
        assert await gql.data(Q1, {"id": sid}) == first
    assert (parse.calls, validate.calls) == (1, 1)
    assert runner_of(app).plan_for(Q1, None) is not None


async def test_compiled_mutations_and_reads_keep_their_statement_counts(
    gql: GraphQLClient, app: Starlette, db: Any
) -> None:
    sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"]["id"]
    sequences = [(await gql.data(APPEND, {"s": sid}))["appendEvent"]["sequence"] for _ in range(5)]
    assert sequences == [1, 2, 3, 4, 5]
    assert runner_of(app).plan_for(APPEND, None) is not None
    counts = []
    for _ in range(3):
        with count_statements(db) as counter:
            data = await gql.data(Q1, {"id": sid})
        counts.append(counter.count)
    assert [n["sequence"] for n in data["session"]["events"]["nodes"]] == [1, 2, 3, 4, 5]
    # key lookup, the session, its events — on the standard run and the compiled ones
    assert counts == [3, 3, 3]


async def test_unsupported_documents_stay_on_the_standard_path(
    gql: GraphQLClient, app: Starlette
) -> None:
    introspection = '{ __type(name: "Session") { name } }'
    for _ in range(2):
        assert await gql.data(introspection) == {"__type": {"name": "Session"}}
    runner = runner_of(app)
    assert (introspection, None) in runner.plans
    assert runner.plan_for(introspection, None) is None
    node = "query($id: ID!) { node(id: $id) { id ... on Session { status } } }"
    sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"]["id"]
    for _ in range(2):
        assert await gql.data(node, {"id": sid}) == {"node": {"id": sid, "status": "PENDING"}}
    assert runner.plan_for(node, None) is None


async def test_invalid_documents_are_never_compiled(gql: GraphQLClient, app: Starlette) -> None:
    for _ in range(2):
        body = await gql("{ sessions { nosuch } }")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert ("{ sessions { nosuch } }", None) not in runner_of(app).plans


def test_extensions_that_hook_execution_turn_compiling_off() -> None:
    assert OperationRunner(build_schema()).enabled
    schema = build_schema()
    schema.extensions = [*schema.extensions, MaskErrors]
    assert not OperationRunner(schema).enabled


async def test_get_uses_the_compiled_plan_only_for_queries(
    http: httpx.AsyncClient, gql: GraphQLClient, api_key: str
) -> None:
    sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"]["id"]
    await gql.data(APPEND, {"s": sid})  # compiled now
    response = await http.get(
        "/graphql",
        params={"query": APPEND, "variables": f'{{"s": "{sid}"}}'},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    count = await gql.data("query($id: ID!) { session(id: $id) { eventCount } }", {"id": sid})
    assert count == {"session": {"eventCount": 1}}


def test_the_served_schema_runs_compiled() -> None:
    """The limits, the shared subscription executor and the caches all allow the fast path."""
    assert OperationRunner(build_schema()).enabled
    assert OperationRunner(build_schema(production=True)).enabled


async def test_compiled_plans_still_check_variable_limits(
    gql: GraphQLClient, app: Starlette
) -> None:
    query = "query($n: Int) { sessions(first: $n) { nodes { id } } }"
    assert await gql.data(query, {"n": 5}) == {"sessions": {"nodes": []}}
    assert runner_of(app).plan_for(query, None) is not None
    refused = await gql(query, {"n": 101})
    assert "data" not in refused
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["limit"] == "pageSize"
    # The same refusal as the standard path gives a document it has not compiled.
    fresh = query.replace("{ id }", "{ id  }")
    assert await gql(fresh, {"n": 101}) == refused
