"""Documents whose fragments expand exponentially: refused in time linear in their size.

Each shape here stands for billions of fields once expanded; before the shape was measured
once per fragment, the 29-level one pinned a process for minutes. Work is counted (the
selections the measure visits, the fragments a walker expands), never timed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    specified_rules,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.records import Principal
from db.store.engine import Database
from graph.plan.limits import SATURATED, Limits, limit_rules, shape_of
from graph.plan.planner import Planner
from graph.schema.build import build_schema
from tests.graph.test_limits import refused, run
from tests.support.graphql import GraphQLClient
from tests.support.ws import socket

SCHEMA = build_schema()


def chain(levels: int, on: str, body: str, spreads: int = 2) -> str:
    """Fragment i spreads fragment i + 1 `spreads` times, around `body` (a format string
    whose `{spread}` is replaced by the spreads)."""
    parts = []
    for i in range(levels):
        spread = " ".join([f"...F{i + 1}"] * spreads)
        parts.append(f"fragment F{i} on {on} {{ {body.format(spread=spread)} }}")
    parts.append(f"fragment F{levels} on {on} {{ __typename }}")
    return " ".join(parts)


BOMBS = {
    "twice at one level, 29 levels (the reported case)": (
        "{ sessions { ...F0 } } " + chain(29, "SessionConnection", "{spread}")
    ),
    "four times at one level": (
        "{ sessions { ...F0 } } " + chain(16, "SessionConnection", "{spread}", 4)
    ),
    "beside fields and aliases": (
        "{ sessions { ...F0 } } "
        + chain(12, "SessionConnection", "totalCount {spread} n: totalCount", 4)
    ),
    "inside inline fragments": (
        "{ sessions { ...F0 } } "
        + chain(
            24, "SessionConnection", "... on SessionConnection {{ {spread} }} ... {{ {spread} }}", 1
        )
    ),
    "on sessions, under a connection": (
        "{ sessions { nodes { ...F0 } edges { node { ...F0 } } } } "
        + chain(24, "Session", "id {spread}")
    ),
    "on events, two connections down": (
        "{ sessions { nodes { events { nodes { ...F0 } } } } } "
        + chain(24, "Event", "id type {spread}")
    ),
    "on the query root": "{ ...F0 } " + chain(30, "Query", "__typename {spread}"),
    "across two types": (
        "{ sessions { nodes { ...S0 } } } "
        + " ".join(
            f"fragment S{i} on Session {{ events {{ nodes {{ ...F0 }} }} ...S{i + 1} ...S{i + 1} }}"
            for i in range(20)
        )
        + " fragment S20 on Session { id } "
        + chain(20, "Event", "id {spread}")
    ),
}


@pytest.mark.parametrize("query", BOMBS.values(), ids=BOMBS.keys())
async def test_fragment_bombs_are_refused_before_any_sql(
    db: Database, principal: Principal, query: str
) -> None:
    result, statements = await run(build_schema(), db, principal, query)
    refused(result, "fields")
    assert statements == 0


@pytest.mark.parametrize("query", BOMBS.values(), ids=BOMBS.keys())
def test_measuring_a_bomb_visits_each_selection_once(query: str) -> None:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    shape = shape_of(SCHEMA._schema, document, operation)
    assert shape.fields > Limits().max_fields
    assert shape.visits == selections_in(document)


async def test_a_bomb_over_http_is_refused_and_the_server_stays_responsive(
    gql: GraphQLClient,
) -> None:
    for query in BOMBS.values():
        response = await gql.post(query)
        assert response.status_code == 200, response.text
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "limit": "fields", "max": 10_000}
        health = await gql.http.get("/healthz", timeout=5)
        assert health.status_code == 200
    assert (await gql.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


SUBSCRIPTION_BOMB = 'subscription { sessionEvents(sessionId: "sess_x") { ...F0 } } ' + chain(
    29, "Event", "sequence {spread}"
)


async def test_a_bomb_over_websocket_is_refused(base_url: str, api_key: str) -> None:
    async with socket(base_url) as ws:
        assert (await ws.init(api_key))["type"] == "connection_ack"
        for op_id, query in enumerate([SUBSCRIPTION_BOMB, *BOMBS.values()]):
            await ws.subscribe(str(op_id), query)
            message = await ws.recv(within=10)
            assert message["type"] == "error", message
            assert message["id"] == str(op_id)
            [error] = message["payload"]
            assert error["extensions"]["limit"] == "fields"
        # The connection still works.
        await ws.send({"type": "ping"})
        assert (await ws.recv())["type"] == "pong"


def expanded(fields: int) -> str:
    """A document that selects exactly `fields` fields once expanded (a power of two)."""
    levels = fields.bit_length() - 1
    assert 1 << levels == fields
    return "{ ...F0 } " + chain(levels, "Query", "{spread}")


@pytest.mark.parametrize("fields", [64, 1024])
async def test_expansion_at_the_limit_runs_and_one_past_is_refused(
    db: Database, principal: Principal, fields: int
) -> None:
    at = build_schema(limits=Limits(max_fields=fields))
    result, _ = await run(at, db, principal, expanded(fields))
    assert result.errors is None, result.errors
    assert result.data == {"__typename": "Query"}
    below = build_schema(limits=Limits(max_fields=fields - 1))
    result, statements = await run(below, db, principal, expanded(fields))
    refused(result, "fields")
    assert statements == 0


# ------------------------------------------------------------------------- bytes


def padded(size: int, filler: str = "x") -> str:
    """`{ __typename }` with a comment making it exactly `size` bytes in UTF-8."""
    head = "{ __typename } #"
    count = (size - len(head)) // len(filler.encode())
    query = head + filler * count
    assert len(query.encode()) == size
    return query


@pytest.mark.parametrize("filler", ["x", "é", "€"])
async def test_document_bytes_at_and_past_the_limit(
    db: Database, principal: Principal, filler: str
) -> None:
    """Bytes, not characters: a document of few characters may still be too large."""
    size = len("{ __typename } #") + 600 * len(filler.encode())
    schema = build_schema(limits=Limits(max_document_bytes=size))
    result, _ = await run(schema, db, principal, padded(size, filler))
    assert result.data == {"__typename": "Query"}, result.errors
    result, statements = await run(schema, db, principal, padded(size, filler) + filler)
    refused(result, "bytes")
    assert statements == 0


HUGE_STRING = '{ session(id: "' + "s" * 3_000_000 + '") { id } }'


async def test_a_huge_string_literal_is_refused_on_every_door(
    gql: GraphQLClient, base_url: str, api_key: str
) -> None:
    response = await gql.post(HUGE_STRING)
    [error] = response.json()["errors"]
    assert error["extensions"]["limit"] == "bytes"
    response = await gql.post("{ __typename } #" + "€" * 50_000)
    assert response.json()["errors"][0]["extensions"]["limit"] == "bytes"
    async with socket(base_url) as ws:
        assert (await ws.init(api_key))["type"] == "connection_ack"
        await ws.subscribe(
            "1", 'subscription { sessionEvents(sessionId: "' + "s" * 200_000 + '") { id } }'
        )
        message = await ws.recv(within=10)
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["limit"] == "bytes"


# ----------------------------------------------------------------- the property


@dataclass(frozen=True)
class Item:
    """One selection of a generated fragment: a field, a connection, or spreads."""

    kind: str  # "field", "alias", "events", "spread", "inline"
    value: int = 0  # page size of `events`, or the fragment spread
    times: int = 1  # how often a spread is repeated


def items(index: int, count: int) -> st.SearchStrategy[list[Item]]:
    later = list(range(index + 1, count))
    choices: list[st.SearchStrategy[Item]] = [
        st.just(Item("field")),
        st.just(Item("alias")),
        st.integers(1, 5).map(lambda size: Item("events", size)),
    ]
    if later:
        target = st.sampled_from(later)
        choices.append(st.builds(Item, st.just("spread"), target, st.integers(1, 4)))
        choices.append(st.builds(Item, st.just("inline"), target, st.integers(1, 2)))
    return st.lists(st.one_of(choices), min_size=1, max_size=6)


@st.composite
def fragment_graphs(draw: st.DrawFn) -> tuple[list[list[Item]], int]:
    count = draw(st.integers(1, 40))
    graph = [draw(items(i, count)) for i in range(count)]
    return graph, draw(st.integers(1, 5))


def render(graph: list[list[Item]], top: int) -> str:
    def item(i: int, it: Item) -> str:
        if it.kind == "field":
            return "id"
        if it.kind == "alias":
            return f"a{i}: status"
        if it.kind == "events":
            return f"events(first: {it.value}) {{ nodes {{ id }} }}"
        spreads = " ".join([f"...F{it.value}"] * it.times)
        return spreads if it.kind == "spread" else f"... on Session {{ {spreads} }}"

    fragments = " ".join(
        f"fragment F{n} on Session {{ {' '.join(item(i, it) for i, it in enumerate(body))} }}"
        for n, body in enumerate(graph)
    )
    return f"{{ sessions(first: {top}) {{ nodes {{ ...F0 }} }} }} {fragments}"


def reference(graph: list[list[Item]], top: int) -> tuple[int, int]:
    """Fields once expanded and nodes returned, counted from the generator's own terms."""

    @cache
    def fields(n: int) -> int:
        total = 0
        for it in graph[n]:
            if it.kind in ("field", "alias"):
                total += 1
            elif it.kind == "events":
                total += 3
            else:
                total += it.times * fields(it.value)
        return total

    @cache
    def nodes(n: int) -> int:
        total = 0
        for it in graph[n]:
            if it.kind == "events":
                total += it.value
            elif it.kind in ("spread", "inline"):
                total += it.times * nodes(it.value)
        return total

    return min(2 + fields(0), SATURATED), min(top * (1 + nodes(0)), SATURATED)


def selections_in(document: Any) -> int:
    """Selections written in the document: the most a linear walk may look at."""
    total = 0
    pending: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections:
            total += 1
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                pending.append(inner)
    return total


class CountingFragments(Mapping[str, FragmentDefinitionNode]):
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.lookups = 0

    def __getitem__(self, name: str) -> FragmentDefinitionNode:
        self.lookups += 1
        return self.fragments[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fragments)

    def __len__(self) -> int:
        return len(self.fragments)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragment_graphs())
def test_work_is_linear_in_the_document_whatever_its_fragments(
    generated: tuple[list[list[Item]], int],
) -> None:
    graph, top = generated
    document = parse(render(graph, top))
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    size = selections_in(document)

    shape = shape_of(SCHEMA._schema, document, operation)
    assert shape.visits <= size
    fields, nodes = reference(graph, top)
    assert shape.fields == fields
    assert shape.node_count(None) == nodes

    fragments = CountingFragments(
        {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    )
    planner = Planner(SCHEMA._schema, fragments, {})
    [[sessions]] = planner.collect([operation], "Query").values()
    [nodes] = planner.collect([sessions], "SessionConnection").values()
    walked = sum(len(f) for f in planner.collect(nodes, "Session").values())
    assert fragments.lookups <= len(fragments)
    assert walked <= size

    limits = Limits(max_fields=1_000, max_nodes=10**9, max_depth=64)
    errors = validate(SCHEMA._schema, document, [*specified_rules, *limit_rules(limits)])
    limited = {e.extensions["limit"] for e in errors if e.extensions and "limit" in e.extensions}
    assert ("fields" in limited) == (fields > limits.max_fields)
