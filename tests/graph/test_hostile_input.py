"""Hand-made hostile values: each is a clear BAD_USER_INPUT on both databases, never INTERNAL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.graphql import GraphQLClient

CREATE = "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }"
APPEND = "mutation($s: ID!, $input: AppendEventInput!) { appendEvent(sessionId: $s, input: $input) { id } }"


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"catalogVersion": "a\x00b"}, "catalogVersion"),
        ({"schemaVersion": "\x00"}, "schemaVersion"),
        ({"prd": {"text": "x\x00y"}}, "prd"),
        ({"prd": {"key\x00": 1}}, "prd"),
        ({"productObject": {"deep": [[{"a": "\x00"}]]}}, "productObject"),
    ],
)
async def test_values_postgresql_cannot_store_are_refused(
    gql: GraphQLClient, input: dict[str, Any], field: str
) -> None:
    # httpx refuses NaN in JSON, so the body is written the way Python's json writes it.
    body = json.dumps({"query": CREATE, "variables": {"input": input}})
    response = await gql.http.post(
        "/graphql", content=body, headers={**gql.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert (await gql.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


@pytest.mark.parametrize(
    "input", [{"assemblyState": {"n": float("nan")}}, {"prd": {"n": [float("inf")]}}]
)
async def test_nan_and_infinity_are_not_json(gql: GraphQLClient, input: dict[str, Any]) -> None:
    """What Python's json writes for NaN is not JSON: refused before any GraphQL runs."""
    body = json.dumps({"query": CREATE, "variables": {"input": input}})
    response = await gql.http.post(
        "/graphql", content=body, headers={**gql.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "errors": [
            {
                "message": "the request body is not valid JSON",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }
    assert (await gql.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


async def test_event_fields_refuse_nul(gql: GraphQLClient) -> None:
    session = (await gql.data(CREATE, {"input": {}}))["createSession"]["id"]
    for input, field in (
        ({"type": "INFO", "stage": "\x00"}, "stage"),
        ({"type": "INFO", "message": "a\x00"}, "message"),
        ({"type": "INFO", "payload": {"a": "\x00"}}, "payload"),
    ):
        body = await gql(APPEND, {"s": session, "input": input})
        [error] = body["errors"]
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (
            "BAD_USER_INPUT",
            field,
        )
    # The text "\u0000" written out (a backslash and five characters) is ordinary text.
    await gql.data(APPEND, {"s": session, "input": {"type": "INFO", "payload": {"a": "\\u0000"}}})


async def test_filter_with_nul_is_refused(gql: GraphQLClient) -> None:
    body = await gql('{ sessions(filter: {userId: "\\u0000"}) { totalCount } }')
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "userId",
    )
