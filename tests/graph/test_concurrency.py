"""Concurrent appends over real HTTP connections keep sequences exactly 1..N."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.graphql import GraphQLClient


async def test_200_concurrent_appends(base_url: str, gql: GraphQLClient, api_key: str) -> None:
    session = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"][
        "id"
    ]
    query = "mutation($s: ID!, $m: String) { appendEvent(sessionId: $s, input: {type: INFO, message: $m}) { sequence } }"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        client = GraphQLClient(http, api_key)
        bodies = await asyncio.gather(
            *(client(query, {"s": session, "m": str(i)}) for i in range(200))
        )
    assert all("errors" not in b for b in bodies)
    assert sorted(b["data"]["appendEvent"]["sequence"] for b in bodies) == list(range(1, 201))
    stored = []
    after = None
    while True:
        page = await gql.data(
            "query($s: ID!, $a: String) { session(id: $s) { eventCount events(first: 100, after: $a) { pageInfo { hasNextPage endCursor } nodes { sequence message } } } }",
            {"s": session, "a": after},
        )
        events = page["session"]["events"]
        stored += events["nodes"]
        if not events["pageInfo"]["hasNextPage"]:
            break
        after = events["pageInfo"]["endCursor"]
    assert page["session"]["eventCount"] == 200
    assert [e["sequence"] for e in stored] == list(range(1, 201))
    assert {e["message"] for e in stored} == {str(i) for i in range(200)}
