"""The Apollo Federation subgraph: off by default, and behind the same doors when on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.events import append_event
from db.keys import set_plan
from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.cli.commands import main
from graph.plan.runner import planning_allowed
from graph.schema.build import build_schema, printed_schema
from graph.settings import Settings
from tests.conftest import new_key
from tests.graph.test_ratelimit import away_from_minute_end
from tests.graph.test_schema_file import SCHEMA_FILE
from tests.support.graphql import GraphQLClient
from tests.support.server import running_server
from tests.support.sessions import append, new_session
from tests.support.ws import EVENTS, socket

ENTITIES = """
query($r: [_Any!]!) {
  _entities(representations: $r) {
    __typename
    ... on Session { id status eventCount events { nodes { sequence } } }
    ... on Event { id sequence sessionId }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
MISSING_SESSION = "sess_0000000000000000"
MISSING_EVENT = "evt_0000000000000000"


@pytest.fixture
async def federated(settings: Settings, db: Database) -> AsyncIterator[tuple[Starlette, str]]:
    app = create_app(settings.model_copy(update={"federation": True}), database=db)
    async with running_server(app) as url:
        yield app, url


@pytest.fixture
async def fgql(federated: tuple[Starlette, str], api_key: str) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=federated[1], timeout=30) as client:
        yield GraphQLClient(client, api_key)


def session_rep(session_id: str) -> dict[str, str]:
    return {"__typename": "Session", "id": session_id}


def event_rep(event_id: str) -> dict[str, str]:
    return {"__typename": "Event", "id": event_id}


# ------------------------------------------------------------------- off by default


def test_setting_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSIONGRAPH_FEDERATION", raising=False)
    assert Settings().federation is False
    monkeypatch.setenv("SESSIONGRAPH_FEDERATION", "true")
    assert Settings().federation is True


def test_plain_schema_has_no_federation_and_stays_so_after_a_federated_build() -> None:
    build_schema(federation=True)
    text = printed_schema()
    assert text == SCHEMA_FILE.read_text()
    for word in ("@key", "@link", "_service", "_entities", "_Any", "_Entity"):
        assert word not in text, word


async def test_no_service_field_when_off(gql: GraphQLClient) -> None:
    for query in ("{ _service { sdl } }", "{ _entities(representations: []) { __typename } }"):
        response = await gql.post(query)
        assert response.status_code in (200, 400), response.text
        body = response.json()
        assert "data" not in body or body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "Cannot query field" in body["errors"][0]["message"]


# ------------------------------------------------------------------------ the SDL


async def test_service_sdl_declares_keys_and_links_federation_2(fgql: GraphQLClient) -> None:
    sdl = (await fgql.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])' in sdl
    assert 'type Session implements Node @key(fields: "id", resolvable: true)' in sdl
    assert 'type Event implements Node @key(fields: "id", resolvable: true)' in sdl
    assert "union _Entity = Event | Session" in sdl
    assert "_entities(representations: [_Any!]!): [_Entity]!" in sdl
    assert sdl + "\n" == printed_schema(federation=True)


def test_export_schema_writes_the_subgraph_sdl_only_when_asked(tmp_path: Path) -> None:
    plain, subgraph = tmp_path / "plain.graphql", tmp_path / "subgraph.graphql"
    assert main(["export-schema", str(plain)]) == 0
    assert main(["export-schema", "--federation", str(subgraph)]) == 0
    assert plain.read_text() == SCHEMA_FILE.read_text()
    assert subgraph.read_text() == printed_schema(federation=True)
    assert '@key(fields: "id"' in subgraph.read_text()


# ----------------------------------------------------------------------- entities


async def test_entities_resolve_like_node_own_foreign_missing(
    fgql: GraphQLClient, db: Database, principal: Principal
) -> None:
    own = await new_session(db, principal, status="generating")
    await append(db, principal, own, 2)
    own_event = (await append_event(db, principal, own, type="info")).id
    other, other_key = await new_key(db)
    foreign = await new_session(db, other)
    foreign_event = (await append_event(db, other, foreign, type="info")).id

    asked = [
        session_rep(own),
        session_rep(foreign),
        session_rep(MISSING_SESSION),
        session_rep("not-an-id"),
        event_rep(own_event),
        event_rep(foreign_event),
        event_rep(MISSING_EVENT),
    ]
    data = await fgql.data(ENTITIES, {"r": asked})
    assert data["_entities"] == [
        {
            "__typename": "Session",
            "id": own,
            "status": "GENERATING",
            "eventCount": 3,
            "events": {"nodes": [{"sequence": 1}, {"sequence": 2}, {"sequence": 3}]},
        },
        None,
        None,
        None,
        {"__typename": "Event", "id": own_event, "sequence": 3, "sessionId": own},
        None,
        None,
    ]
    # Exactly what `node(id:)` answers for the same ids, with the same key.
    for rep, entity in zip(asked, data["_entities"], strict=True):
        node = (await fgql.data(NODE, {"id": rep["id"]}))["node"]
        assert (node is None) == (entity is None), rep
    # The other organisation's key sees its own and not ours.
    theirs = await fgql.data(ENTITIES, {"r": asked[:2]}, key=other_key)
    assert theirs["_entities"][0] is None
    assert theirs["_entities"][1]["id"] == foreign


@pytest.mark.parametrize(
    ("representation", "problem"),
    [
        ({"__typename": "Query", "id": "x"}, "__typename"),
        ({"__typename": "PageInfo", "id": "x"}, "__typename"),
        ({"id": "sess_0000000000000000"}, "__typename"),
        ({"__typename": "Session"}, "'id'"),
        ({"__typename": "Session", "id": 7}, "'id'"),
        ("sess_0000000000000000", "object"),
    ],
)
async def test_bad_representations_are_the_callers_mistake(
    fgql: GraphQLClient, representation: Any, problem: str
) -> None:
    body = await fgql(ENTITIES, {"r": [session_rep(MISSING_SESSION), representation]})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == "representations"
    assert "representations[1]" in error["message"] and problem in error["message"]
    assert body["data"] is None


async def test_entities_need_a_valid_key(fgql: GraphQLClient) -> None:
    for key in ("", "sg_not_a_real_key"):
        response = await fgql.post(ENTITIES, {"r": [session_rep(MISSING_SESSION)]}, key=key)
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = await fgql.post("{ _service { sdl } }", key="")
    assert response.status_code == 401


async def test_entities_spend_the_node_budget_per_representation(fgql: GraphQLClient) -> None:
    """`events` pages 100 by default: each session costs 101 nodes, 10,000 allowed."""
    reps = [session_rep(f"sess_{i:016x}") for i in range(100)]
    body = await fgql(ENTITIES, {"r": reps[:99]})
    assert "errors" not in body and body["data"]["_entities"] == [None] * 99
    body = await fgql(ENTITIES, {"r": reps})
    [error] = body["errors"]
    assert error["extensions"]["limit"] == "nodes", error
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    many = [session_rep(f"sess_{i:016x}") for i in range(101)]
    body = await fgql(
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", {"r": many}
    )
    [error] = body["errors"]
    assert error["extensions"]["limit"] == "pageSize", error


async def test_entities_obey_operation_limits(fgql: GraphQLClient) -> None:
    deep = "{ _entities(representations: []) { ... on Session { events { nodes { id } } } } }"
    ok = await fgql(deep)
    assert ok["data"] == {"_entities": []}
    too_many = "{ _entities(representations: []) { ... on Session { events(first: 101) { nodes { id } } } } }"
    response = await fgql.post(too_many)
    error = response.json()["errors"][0]
    assert error["extensions"]["limit"] == "pageSize", error


async def test_entities_are_rate_limited_like_any_query(fgql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_requests_per_minute=2)
    reps = {"r": [session_rep(MISSING_SESSION)]}
    await away_from_minute_end()
    for _ in range(2):
        assert (await fgql.post(ENTITIES, reps, key=key)).status_code == 200
    refused = await fgql.post(ENTITIES, reps, key=key)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


# ------------------------------------------------------ the rest of the server, federated


async def test_production_serves_the_sdl_but_not_introspection() -> None:
    """`_service` is an ordinary field: production's introspection ban does not hide it."""
    schema = build_schema(production=True, federation=True)
    result = await schema.execute("{ _service { sdl } }")
    assert result.errors is None and '@key(fields: "id"' in result.data["_service"]["sdl"]
    refused = await schema.execute("{ __schema { types { name } } }")
    assert refused.errors


def test_federated_schema_keeps_planned_reads() -> None:
    assert planning_allowed(build_schema(federation=True))


async def test_compiled_runs_answer_the_same(
    fgql: GraphQLClient, db: Database, principal: Principal
) -> None:
    own = await new_session(db, principal)
    await append(db, principal, own, 2)
    query = "query($id: ID!) { session(id: $id) { id status events { nodes { sequence } } } }"
    first, second = [await fgql.data(query, {"id": own}) for _ in range(2)]
    assert first == second and first["session"]["events"]["nodes"] == [
        {"sequence": 1},
        {"sequence": 2},
    ]
    reps = {"r": [session_rep(own)]}
    first, second = [await fgql.data(ENTITIES, reps) for _ in range(2)]
    assert first == second and first["_entities"][0]["id"] == own


async def test_subscriptions_and_sse_work_federated(
    federated: tuple[Starlette, str], api_key: str, db: Database, principal: Principal
) -> None:
    url = federated[1]
    own = await new_session(db, principal)
    await append(db, principal, own, 2)
    async with socket(url) as ws:
        assert (await ws.init(api_key))["type"] == "connection_ack"
        await ws.subscribe("1", EVENTS, {"s": own, "a": 0})
        seen, _ = await ws.events("1", count=2)
        assert seen == [1, 2]
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    path = f"/v1/products/generation/sessions/{own}/events/stream"
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200
        ids = []
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    ids.append(line.split(":", 1)[1].strip())
                if len(ids) == 2:
                    break
        assert ids == ["1", "2"]
