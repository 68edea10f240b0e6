"""The runner: a document's first request takes Strawberry's standard path, later ones are
answered by one planned statement; whatever a plan cannot answer exactly as the standard
path would is left to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import strawberry.extensions.parser_cache
import strawberry.schema.schema
from starlette.applications import Starlette
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionResult

import graph.plan.runner
from db import sessions as session_ops
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database
from graph.app import create_app
from graph.plan import planner as read_planner
from graph.plan.limits import Limits
from graph.plan.runner import OperationRunner, response_body
from graph.schema.build import build_schema
from graph.schema.context import Context
from graph.settings import Settings
from tests.graph.plans.compare import QUERIES, runner_of
from tests.support.graphql import GraphQLClient
from tests.support.server import running_server
from tests.support.sessions import append, new_session
from tests.support.statements import count_statements

Q1 = (
    "query($id: ID!) { session(id: $id) { id status eventCount"
    " events { nodes { sequence type message } } } }"
)
CREATE = "mutation { createSession(input: {}) { id } }"
APPEND = 'mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO, message: "m"}) { sequence } }'
NODE = (
    "query($id: ID!, $b: Boolean!) { node(id: $id) { __typename id"
    " ... on Session @include(if: $b) { status eventCount } ... on Event { sequence } } }"
)


class Counter:
    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.wrapped(*args, **kwargs)


def count_planning(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts the plans built (one per operation and shape of its variables)."""
    planning = Counter(read_planner.Planner.operation)

    def operation(self: read_planner.Planner, node: Any) -> Any:
        return planning(self, node)

    monkeypatch.setattr(read_planner.Planner, "operation", operation)
    return planning


def context(db: Database, principal: Principal) -> Context:
    return Context(db=db, principal=principal, session_ttl_seconds=3600)


async def standard_bytes(
    runner: OperationRunner, query: str, variables: dict[str, Any], ctx: Context
) -> bytes:
    result = await runner.execute(query, variables, ctx, None, QUERIES)
    return orjson.dumps(response_body(result))


async def test_the_first_request_is_standard_and_later_ones_one_statement(
    gql: GraphQLClient,
    app: Starlette,
    db: Database,
    principal: Principal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid = await new_session(db, principal)
    await append(db, principal, sid, 5)
    runner = runner_of(app)
    executions = Counter(runner.schema.execute)
    monkeypatch.setattr(runner.schema, "execute", executions)
    with count_statements(db, leases=False) as first:
        answer = await gql.post(Q1, {"id": sid})
    assert executions.calls == 1
    assert len(first.statements) > 1  # the key check, then the standard path's reads
    nodes = answer.json()["data"]["session"]["events"]["nodes"]
    assert [node["sequence"] for node in nodes] == [1, 2, 3, 4, 5]
    for _ in range(5):
        with count_statements(db, leases=False) as later:
            again = await gql.post(Q1, {"id": sid})
        assert again.content == answer.content
        # One statement: the planned read, with the key check folded into it.
        assert len(later.statements) == 1, later.statements
    assert executions.calls == 1
    # In process (no key check): one statement too.
    with count_statements(db, leases=False) as direct:
        planned = await runner.planned(Q1, {"id": sid}, context(db, principal), None)
    assert planned == answer.content
    assert len(direct.statements) == 1


async def test_a_repeated_document_is_parsed_and_validated_once(
    gql: GraphQLClient, db: Database, principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    parse = Counter(strawberry.extensions.parser_cache.parse)  # type: ignore[attr-defined]
    validate = Counter(strawberry.schema.schema.validate)  # type: ignore[attr-defined]
    strawberry.extensions.parser_cache._get_parse_cache.cache_clear()
    monkeypatch.setattr(strawberry.extensions.parser_cache, "parse", parse)
    monkeypatch.setattr(strawberry.schema.schema, "validate", validate)
    monkeypatch.setattr(graph.plan.runner, "parse", parse)
    sid = await new_session(db, principal)
    query = Q1.replace("message", "message stage")  # a text no other test parsed
    first = await gql.data(query, {"id": sid})
    for _ in range(10):
        assert await gql.data(query, {"id": sid}) == first
    assert (parse.calls, validate.calls) == (1, 1)


async def test_variables_that_change_the_shape_get_their_own_plans(
    db: Database, principal: Principal
) -> None:
    sid = await new_session(db, principal)
    [sequence] = await append(db, principal, sid)
    other = await new_session(db, principal)
    runner = OperationRunner(build_schema())
    event = await runner.execute(
        "query($id: ID!) { session(id: $id) { events { nodes { id } } } }",
        {"id": sid},
        context(db, principal),
        None,
        QUERIES,
    )
    assert event.data is not None
    event_id = event.data["session"]["events"]["nodes"][0]["id"]
    answers = {}
    for id_value in (sid, event_id, "nope", other):
        for include in (True, False):
            variables = {"id": id_value, "b": include}
            expected = await standard_bytes(runner, NODE, variables, context(db, principal))
            got = await runner.planned(NODE, variables, context(db, principal), None)
            assert got == expected, variables
            answers[(id_value, include)] = orjson.loads(got)["data"]["node"]
    assert answers[(sid, True)] == {
        "__typename": "Session",
        "id": sid,
        "status": "PENDING",
        "eventCount": 1,
    }
    assert answers[(sid, False)] == {"__typename": "Session", "id": sid}
    assert answers[(event_id, True)] == answers[(event_id, False)]
    assert answers[(event_id, True)] == {
        "__typename": "Event",
        "id": event_id,
        "sequence": sequence,
    }
    assert answers[("nope", True)] is None
    assert answers[(other, True)]["id"] == other


async def test_alternating_shapes_reuse_their_plans(
    db: Database, principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client whose variables switch between shapes (an id of another kind, a directive
    flipped) gets each shape's plan from the cache: planning, and what a document keeps,
    do not grow with the number of requests."""
    sid = await new_session(db, principal)
    runner = OperationRunner(build_schema())
    await runner.execute(NODE, {"id": sid, "b": True}, context(db, principal), None, QUERIES)
    planning = count_planning(monkeypatch)
    shapes = [
        {"id": i, "b": b} for i in (sid, "evt_0123456789abcdef", "nope") for b in (True, False)
    ]
    for _ in range(10):
        for variables in shapes:
            assert await runner.planned(NODE, variables, context(db, principal), None)
    plans = runner.plans[(NODE, None)]
    assert plans is not None
    # Six shapes: a session id, an event id and neither, each with the fragment in or out.
    assert (planning.calls, len(plans.plans)) == (6, 6)
    assert len(plans.probes) == 2  # the id's kind and the directive


REFUSED = [
    pytest.param(
        "query($n: Int) { sessions(first: $n) { nodes { id } } }",
        {"n": 5},
        [{"n": 500}, {"n": 101}, {"n": 0}, {"n": -1}, {"n": "5"}, {"n": 2**31}],
        id="page size",
    ),
    pytest.param(
        "query($a: String) { sessions(after: $a) { nodes { id } } }",
        {"a": None},
        [{"a": "x"}, {"a": ""}, {"a": 5}],
        id="session cursor",
    ),
    pytest.param(
        "query($id: ID!, $a: String, $l: Int) { session(id: $id)"
        " { id events(after: $a, last: $l) { nodes { sequence } } } }",
        {"id": "@session"},
        [{"id": "@session", "a": "x"}, {"id": "@session", "l": 0}, {"id": "@session", "l": 500}],
        id="event window",
    ),
    pytest.param(
        "query($f: SessionFilter) { sessions(filter: $f) { totalCount } }",
        {"f": {"status": ["PENDING"]}},
        [{"f": {"userId": "a\x00b"}}, {"f": {"status": ["LOST"]}}, {"f": {"nosuch": 1}}],
        id="filter",
    ),
    pytest.param(
        "query($b: Boolean!) { sessions { totalCount @include(if: $b) } }",
        {"b": True},
        [{"b": None}, {}, {"b": "yes"}],
        id="directive",
    ),
]


@pytest.mark.parametrize(("query", "good", "bad"), REFUSED)
async def test_an_invalid_variable_on_a_planned_document_gets_the_standard_error(
    gql: GraphQLClient,
    app: Starlette,
    db: Database,
    principal: Principal,
    query: str,
    good: dict[str, Any],
    bad: list[dict[str, Any]],
) -> None:
    sid = await new_session(db, principal)

    def filled(variables: dict[str, Any]) -> dict[str, Any]:
        return {k: sid if v == "@session" else v for k, v in variables.items()}

    runner = runner_of(app)
    await gql.data(query, filled(good))
    assert await gql.data(query, filled(good)) is not None
    assert runner.plan_of(query, filled(good), None) is not None
    for number, variables in enumerate(bad):
        refused = await gql.post(query, filled(variables))
        # The same document with a comment appended is new, so the standard path answers.
        fresh = await gql.post(f"{query} # {number}", filled(variables))
        assert (refused.status_code, refused.content) == (fresh.status_code, fresh.content)
        assert refused.json()["errors"], variables
        assert runner.plan_of(query, filled(variables), None) is None


async def test_mutations_subscriptions_and_introspection_are_never_planned(
    gql: GraphQLClient, app: Starlette, db: Database, principal: Principal
) -> None:
    runner = runner_of(app)
    created = [(await gql.data(CREATE))["createSession"]["id"] for _ in range(3)]
    assert len(set(created)) == 3  # each request ran
    assert runner.plans.get((CREATE, None)) is None
    assert await runner.planned(CREATE, None, context(db, principal), None) is None
    sequences = [
        (await gql.data(APPEND, {"s": created[0]}))["appendEvent"]["sequence"] for _ in range(3)
    ]
    assert sequences == [1, 2, 3]
    assert runner.plans.get((APPEND, None)) is None

    subscription = "subscription { sessionUpdates { __typename } }"
    for _ in range(2):
        refused = await gql.post(subscription)
        assert refused.status_code == 400
    assert runner.plans.get((subscription, None)) is None

    introspection = [
        '{ __type(name: "Session") { name } }',
        "{ __schema { queryType { name } } }",
        '{ __typename sessions { totalCount } __type(name: "Event") { name } }',
        '{ sessions { nodes { id __typename } } t: __type(name: "Node") { kind } }',
    ]
    for query in introspection:
        first = await gql.post(query)
        assert "errors" not in first.json(), first.json()
        for _ in range(2):
            again = await gql.post(query)
            assert again.content == first.content
            assert await runner.planned(query, None, context(db, principal), None) is None
    # `__typename` alone is no introspection: it is planned.
    assert await gql.data("{ __typename }") == {"__typename": "Query"}
    assert await runner.planned("{ __typename }", None, context(db, principal), None) == (
        b'{"data":{"__typename":"Query"}}'
    )


async def test_operation_names_have_their_own_plans(
    gql: GraphQLClient, app: Starlette, db: Database, principal: Principal
) -> None:
    sid = await new_session(db, principal, catalog_version="v9")
    document = (
        "query A($id: ID!) { session(id: $id) { id } }"
        " query B($id: ID!) { session(id: $id) { catalogVersion } }"
    )
    runner = runner_of(app)

    async def post(name: str | None) -> httpx.Response:
        body: dict[str, Any] = {"query": document, "variables": {"id": sid}}
        if name is not None:
            body["operationName"] = name
        return await gql.http.post("/graphql", json=body, headers=gql.headers())

    unnamed = await post(None)  # the standard path picks an operation; it is not planned
    for _ in range(3):
        assert (await post("A")).json() == {"data": {"session": {"id": sid}}}
        assert (await post("B")).json() == {"data": {"session": {"catalogVersion": "v9"}}}
        assert (await post(None)).content == unnamed.content
    assert runner.plan_of(document, {"id": sid}, "A") is not None
    assert runner.plan_of(document, {"id": sid}, "B") is not None
    assert runner.plan_of(document, {"id": sid}, None) is None


async def test_invalid_documents_are_never_planned(gql: GraphQLClient, app: Starlette) -> None:
    for _ in range(2):
        body = await gql("{ sessions { nosuch } }")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert ("{ sessions { nosuch } }", None) not in runner_of(app).plans


def test_extensions_that_hook_execution_turn_planning_off() -> None:
    assert OperationRunner(build_schema()).enabled
    schema = build_schema()
    schema.extensions = (*schema.extensions, MaskErrors)
    assert not OperationRunner(schema).enabled


def test_the_served_schema_plans_reads() -> None:
    """The limits, the shared subscription executor and the caches all allow planning."""
    assert OperationRunner(build_schema()).enabled
    assert OperationRunner(build_schema(production=True)).enabled


async def test_get_plans_queries_and_still_refuses_mutations(
    http: httpx.AsyncClient, gql: GraphQLClient, api_key: str, db: Database, principal: Principal
) -> None:
    sid = await new_session(db, principal)
    await gql.data(APPEND, {"s": sid})
    headers = {"Authorization": f"Bearer {api_key}"}
    response = await http.get(
        "/graphql",
        params={"query": APPEND, "variables": orjson.dumps({"s": sid}).decode()},
        headers=headers,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    query = "query($id: ID!) { session(id: $id) { eventCount } }"
    params = {"query": query, "variables": orjson.dumps({"id": sid}).decode()}
    first = await http.get("/graphql", params=params, headers=headers)
    with count_statements(db, leases=False) as counter:
        again = await http.get("/graphql", params=params, headers=headers)
    assert first.json() == {"data": {"session": {"eventCount": 1}}}
    assert again.content == first.content
    assert len(counter.statements) == 1


async def slow(*_args: Any, **_kwargs: Any) -> Any:
    await asyncio.sleep(5)


async def test_a_planned_read_that_times_out_gets_the_standard_timeout_error(
    db: Database, principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await new_session(db, principal)
    schema = build_schema(limits=Limits(timeout_seconds=0.2))
    runner = OperationRunner(schema)
    variables = {"id": sid}
    answer = await standard_bytes(runner, Q1, variables, context(db, principal))
    assert b'"errors"' not in answer
    assert await runner.planned(Q1, variables, context(db, principal), None) == answer
    monkeypatch.setattr(read_sql, "read", slow)
    timed_out = await runner.planned(Q1, variables, context(db, principal), None)
    assert isinstance(timed_out, ExecutionResult)  # reported as the standard path reports it
    planned = orjson.dumps(response_body(timed_out))
    monkeypatch.setattr(session_ops, "find_session", slow)
    standard = await schema.execute(
        Q1, variable_values=variables, context_value=context(db, principal)
    )
    assert planned == orjson.dumps(response_body(standard))
    # No `data`: the operation failed as a whole, before any field had a value.
    assert orjson.loads(planned) == {
        "errors": [
            {
                "message": "the operation took longer than 0.2 s (limit: timeout)",
                "extensions": {"code": "TIMEOUT", "limit": "timeout", "max": 0.2},
            }
        ],
    }


@pytest.fixture
async def slow_app_url(settings: Settings, db: Database) -> AsyncIterator[str]:
    app = create_app(settings.model_copy(update={"graphql_timeout_seconds": 0.2}), database=db)
    async with running_server(app) as url:
        yield url


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_over_http_a_timeout_is_answered_as_the_standard_path_answers_it(
    slow_app_url: str,
    db: Database,
    principal: Principal,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    accept: str,
) -> None:
    sid = await new_session(db, principal)
    headers = {"Authorization": f"Bearer {api_key}", "Accept": accept}

    async def post(query: str) -> httpx.Response:
        body = {"query": query, "variables": {"id": sid}}
        return await http.post("/graphql", json=body, headers=headers)

    async with httpx.AsyncClient(base_url=slow_app_url, timeout=30) as http:
        first = await post(Q1)
        assert (await post(Q1)).content == first.content  # planned from now on
        monkeypatch.setattr(read_sql, "read", slow)
        monkeypatch.setattr(read_sql, "read_as", slow)
        planned = await post(Q1)
        monkeypatch.setattr(session_ops, "find_session", slow)
        standard = await post(f"{Q1} # a new document")
    assert standard.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert (planned.status_code, planned.content) == (standard.status_code, standard.content)
