"""A page of sessions loads its sessions' events before they ask, and the answers stay the same."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

import graph.types
from graph.context import Context
from tests.support.graphql import GraphQLClient

APPEND = (
    "mutation($s: ID!, $m: String!) { appendEvent(sessionId: $s,"
    " input: {type: WARNING, message: $m}) { id } }"
)
PAGE = "query { sessions(first: 10) { nodes { id events(first: 20) { nodes { id message } } } } }"


async def _seed(gql: GraphQLClient, sessions: int, events: int) -> list[str]:
    ids = []
    for _ in range(sessions):
        sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"][
            "id"
        ]
        for n in range(events):
            await gql.data(APPEND, {"s": sid, "m": f"{sid} {n}"})
        ids.append(sid)
    return ids


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many `Session.events` had to wait for their page to load."""
    counted = [0]
    later = graph.types._event_connection_later

    def counting(*args: Any) -> Any:
        counted[0] += 1
        return later(*args)

    monkeypatch.setattr(graph.types, "_event_connection_later", counting)
    yield counted


async def test_a_page_of_sessions_answers_events_without_waiting(
    gql: GraphQLClient, waits: list[int]
) -> None:
    ids = await _seed(gql, 3, 2)
    for _ in range(2):  # the standard path, then the compiled plan
        data = await gql.data(PAGE)
        nodes = data["sessions"]["nodes"]
        assert [n["id"] for n in nodes] == ids[::-1]
        for node in nodes:
            assert [e["message"] for e in node["events"]["nodes"]] == [
                f"{node['id']} 0",
                f"{node['id']} 1",
            ]
    assert waits[0] == 0
    # A session read alone loads its own events: the counter does count.
    await gql.data(
        "query($id: ID!) { session(id: $id) { events { nodes { id } } } }", {"id": ids[0]}
    )
    assert waits[0] == 1


async def test_every_shape_of_events_under_a_page_is_loaded_ahead(
    gql: GraphQLClient, waits: list[int]
) -> None:
    ids = await _seed(gql, 2, 3)
    selection = (
        "a: events(first: $n) { nodes { id } } b: events(last: 1) { edges { node { message } } }"
        " ...F"
    )
    page = (
        f"query($n: Int!) {{ sessions(first: 5) {{ nodes {{ id {selection} }}"
        f' edges {{ node {{ id events(after: "1") {{ nodes {{ type }} }} }} }} }} }}'
        " fragment F on Session { a: events(first: $n) { nodes { sequence } } }"
    )
    single = (
        f"query($id: ID!, $n: Int!) {{ session(id: $id) {{ id {selection}"
        f' c: events(after: "1") {{ nodes {{ type }} }} }} }}'
        " fragment F on Session { a: events(first: $n) { nodes { sequence } } }"
    )
    for _ in range(2):
        data = await gql.data(page, {"n": 2})
        assert waits[0] == 0
        nodes = data["sessions"]["nodes"]
        edges = data["sessions"]["edges"]
        assert [n["id"] for n in nodes] == ids[::-1]
        for node, edge in zip(nodes, edges, strict=True):
            alone = (await gql.data(single, {"id": node["id"], "n": 2}))["session"]
            waits[0] = 0
            assert node["a"] == alone["a"] and node["b"] == alone["b"]
            assert [e["sequence"] for e in node["a"]["nodes"]] == [1, 2]
            assert edge["node"]["events"] == alone["c"]
            assert [e["type"] for e in alone["c"]["nodes"]] == ["WARNING", "WARNING"]


async def test_bad_arguments_are_still_reported_at_each_session(
    gql: GraphQLClient, waits: list[int]
) -> None:
    await _seed(gql, 2, 1)
    for _ in range(2):
        body = await gql('query { sessions { nodes { id events(after: "x") { nodes { id } } } } }')
        assert body["data"] is None
        paths = [e["path"] for e in body["errors"]]
        assert paths == [["sessions", "nodes", 0, "events"]]
        assert body["errors"][0]["message"] == "after is not a valid event cursor"
        body = await gql(
            'query { sessions { nodes { id events(last: 2, before: "") { nodes { id } } } } }'
        )
        assert body["data"] is None
        assert [e["path"] for e in body["errors"]] == [["sessions", "nodes", 0, "events"]]
        assert body["errors"][0]["message"] == "before is not a valid event cursor"
    assert waits[0] == 0


async def test_events_under_a_directive_load_when_they_run(
    gql: GraphQLClient, waits: list[int]
) -> None:
    await _seed(gql, 2, 1)
    query = (
        "query($x: Boolean!) { sessions { nodes { id"
        " events @include(if: $x) { nodes { message } } } } }"
    )
    shown = await gql.data(query, {"x": True})
    assert all(len(n["events"]["nodes"]) == 1 for n in shown["sessions"]["nodes"])
    hidden = await gql.data(query, {"x": False})
    assert all("events" not in n for n in hidden["sessions"]["nodes"])
    assert waits[0] == 2  # nothing was loaded ahead: each session loaded its own


async def test_a_request_leaves_no_reference_cycles(gql: GraphQLClient) -> None:
    """Each request's loaders and results are freed when it ends, not by the collector."""
    await _seed(gql, 2, 2)
    await gql.data(PAGE)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            await gql.data(PAGE)
        gc.collect()
        contexts = [o for o in gc.garbage if isinstance(o, Context)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert contexts == []
