"""Every query and mutation through a real HTTP server, with whole response bodies compared."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from db import clock
from db.records import Principal
from tests.support.graphql import GraphQLClient

SESSION_FIELDS = """
  id organizationId userId status assemblyState catalogVersion plan prd productObject
  productObjectHash schemaVersion createdAt updatedAt expiresAt eventCount
"""
EVENT_FIELDS = "id sequence sessionId organizationId userId type stage message payload createdAt"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

CREATE = f"mutation($input: CreateSessionInput!) {{ createSession(input: $input) {{ {SESSION_FIELDS} }} }}"
APPEND = f"mutation($id: ID!, $input: AppendEventInput!) {{ appendEvent(sessionId: $id, input: $input) {{ {EVENT_FIELDS} }} }}"


def server_fields(node: dict[str, Any], *names: str) -> dict[str, Any]:
    """Pull out fields only the server knows (ids, times) after checking their shape."""
    for name in names:
        if name.endswith("At"):
            assert STAMP.match(node[name]), node[name]
    return {name: node[name] for name in names}


async def test_create_and_read_a_session(gql: GraphQLClient, principal: Principal) -> None:
    expires = clock.to_rfc3339(clock.now() + timedelta(days=1))
    created = (
        await gql.data(
            CREATE,
            {
                "input": {
                    "status": "GENERATING",
                    "assemblyState": {"step": "assembling", "progress": 75},
                    "catalogVersion": "v2.4.1",
                    "prd": {"productId": "prod_1", "name": "AI Content Generator"},
                    "productObject": {"type": "text-generation", "config": {"maxTokens": 512}},
                    "schemaVersion": "1.0.0",
                    "expiresAt": expires,
                }
            },
        )
    )["createSession"]
    known = server_fields(created, "id", "createdAt", "updatedAt", "productObjectHash")
    assert re.fullmatch(r"sess_[0-9a-f]{16}", known["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", known["productObjectHash"])
    assert created == {
        **known,
        "organizationId": principal.organization_id,
        "userId": principal.user_id,
        "status": "GENERATING",
        "assemblyState": {"step": "assembling", "progress": 75},
        "catalogVersion": "v2.4.1",
        "plan": {
            "name": principal.plan.name,
            "limits": {
                "maxSessions": principal.plan.max_sessions,
                "maxRequestsPerMinute": principal.plan.max_requests_per_minute,
            },
        },
        "prd": {"productId": "prod_1", "name": "AI Content Generator"},
        "productObject": {"type": "text-generation", "config": {"maxTokens": 512}},
        "schemaVersion": "1.0.0",
        "expiresAt": expires,
        "updatedAt": known["createdAt"],
        "eventCount": 0,
    }
    read = await gql(
        f"query($id: ID!) {{ session(id: $id) {{ {SESSION_FIELDS} }} }}", {"id": known["id"]}
    )
    assert read == {"data": {"session": created}}
    node = await gql(
        "query($id: ID!) { node(id: $id) { id ... on Session { status } } }", {"id": known["id"]}
    )
    assert node == {"data": {"node": {"id": known["id"], "status": "GENERATING"}}}


async def test_defaults_of_an_empty_create(gql: GraphQLClient) -> None:
    created = (await gql.data(CREATE, {"input": {}}))["createSession"]
    assert created["status"] == "PENDING"
    assert (
        created["assemblyState"],
        created["prd"],
        created["productObject"],
        created["productObjectHash"],
    ) == (None,) * 4
    lifetime = clock.parse_rfc3339(created["expiresAt"]) - clock.parse_rfc3339(created["createdAt"])
    assert lifetime == timedelta(days=7)


async def test_update_keeps_omitted_and_clears_null(gql: GraphQLClient) -> None:
    created = (
        await gql.data(
            CREATE, {"input": {"prd": {"a": 1}, "catalogVersion": "v1", "productObject": {"x": 1}}}
        )
    )["createSession"]
    body = await gql(
        "mutation($id: ID!) { updateSession(id: $id, input: {status: ASSEMBLING, catalogVersion: null, productObject: null}) "
        "{ id status prd catalogVersion productObject productObjectHash updatedAt } }",
        {"id": created["id"]},
    )
    updated = body["data"]["updateSession"]
    assert STAMP.match(updated["updatedAt"]) and updated["updatedAt"] >= created["updatedAt"]
    assert body == {
        "data": {
            "updateSession": {
                "id": created["id"],
                "status": "ASSEMBLING",
                "prd": {"a": 1},
                "catalogVersion": None,
                "productObject": None,
                "productObjectHash": None,
                "updatedAt": updated["updatedAt"],
            }
        }
    }


async def test_append_and_page_events(gql: GraphQLClient, principal: Principal) -> None:
    session_id = (await gql.data(CREATE, {"input": {}}))["createSession"]["id"]
    appended = []
    for i in range(5):
        event = (
            await gql.data(
                APPEND,
                {
                    "id": session_id,
                    "input": {
                        "type": "INFO",
                        "stage": "generating",
                        "message": f"m{i}",
                        "payload": {"i": i},
                    },
                },
            )
        )["appendEvent"]
        known = server_fields(event, "id", "createdAt")
        assert event == {
            **known,
            "sequence": i + 1,
            "sessionId": session_id,
            "organizationId": principal.organization_id,
            "userId": principal.user_id,
            "type": "INFO",
            "stage": "generating",
            "message": f"m{i}",
            "payload": {"i": i},
        }
        appended.append(event)
    page = await gql(
        f"""query($id: ID!) {{ session(id: $id) {{ eventCount
              events(first: 2, after: "1") {{ totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                edges {{ cursor node {{ {EVENT_FIELDS} }} }} nodes {{ sequence }} }} }} }}""",
        {"id": session_id},
    )
    assert page == {
        "data": {
            "session": {
                "eventCount": 5,
                "events": {
                    "totalCount": 5,
                    "pageInfo": {
                        "hasNextPage": True,
                        "hasPreviousPage": True,
                        "startCursor": "2",
                        "endCursor": "3",
                    },
                    "edges": [
                        {"cursor": "2", "node": appended[1]},
                        {"cursor": "3", "node": appended[2]},
                    ],
                    "nodes": [{"sequence": 2}, {"sequence": 3}],
                },
            }
        }
    }
    tail = await gql.data(
        "query($id: ID!) { session(id: $id) { events(last: 2) { nodes { sequence } pageInfo { hasPreviousPage hasNextPage } } } }",
        {"id": session_id},
    )
    assert tail == {
        "session": {
            "events": {
                "nodes": [{"sequence": 4}, {"sequence": 5}],
                "pageInfo": {"hasPreviousPage": True, "hasNextPage": False},
            }
        }
    }
    node = await gql.data(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Event {{ {EVENT_FIELDS} }} }} }}",
        {"id": appended[0]["id"]},
    )
    assert node == {"node": appended[0]}


async def test_sessions_connection(gql: GraphQLClient) -> None:
    ids = [
        (await gql.data(CREATE, {"input": {"status": status}}))["createSession"]["id"]
        for status in ("PENDING", "GENERATING", "GENERATING")
    ]
    query = """query($after: String, $filter: SessionFilter) { sessions(first: 2, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } nodes { id status } } }"""
    first = (await gql.data(query))["sessions"]
    assert first["totalCount"] == 3
    assert [n["id"] for n in first["nodes"]] == ids[::-1][:2]
    assert [e["node"]["id"] for e in first["edges"]] == ids[::-1][:2]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": first["edges"][0]["cursor"],
        "endCursor": first["edges"][1]["cursor"],
    }
    second = (await gql.data(query, {"after": first["pageInfo"]["endCursor"]}))["sessions"]
    assert [n["id"] for n in second["nodes"]] == [ids[0]]
    assert (
        second["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["hasPreviousPage"] is True
    )
    filtered = (await gql.data(query, {"filter": {"status": ["GENERATING"]}}))["sessions"]
    assert filtered["totalCount"] == 2 and {n["status"] for n in filtered["nodes"]} == {
        "GENERATING"
    }
    oldest = await gql.data("{ sessions(first: 1, orderBy: CREATED_AT_ASC) { nodes { id } } }")
    assert oldest == {"sessions": {"nodes": [{"id": ids[0]}]}}
    default = await gql.data("{ sessions(first: null) { nodes { id } } }")
    assert len(default["sessions"]["nodes"]) == 3


async def test_delete_session(gql: GraphQLClient) -> None:
    session_id = (await gql.data(CREATE, {"input": {}}))["createSession"]["id"]
    await gql.data(APPEND, {"id": session_id, "input": {"type": "DEBUG"}})
    assert await gql("mutation($id: ID!) { deleteSession(id: $id) }", {"id": session_id}) == {
        "data": {"deleteSession": session_id}
    }
    assert await gql("query($id: ID!) { session(id: $id) { id } }", {"id": session_id}) == {
        "data": {"session": None}
    }
    again = await gql("mutation($id: ID!) { deleteSession(id: $id) }", {"id": session_id})
    assert again["data"] is None
    assert again["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    assert again["errors"][0]["message"] == f"session {session_id} not found"
