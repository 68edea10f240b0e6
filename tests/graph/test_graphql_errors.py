"""Bad input gets a clear error with `extensions.code`, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.graphql import GraphQLClient

CREATE = "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }"
COUNT = "{ sessions { totalCount } }"


async def session_id(gql: GraphQLClient, **input: Any) -> str:
    return str((await gql.data(CREATE, {"input": input}))["createSession"]["id"])


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


@pytest.mark.parametrize(
    ("input", "field", "fragment"),
    [
        ({"prd": [1, 2]}, "prd", "prd must be a JSON object"),
        ({"prd": "text"}, "prd", "prd must be a JSON object"),
        ({"assemblyState": 5}, "assemblyState", "assemblyState must be a JSON object"),
        ({"catalogVersion": ""}, "catalogVersion", "must not be empty"),
        ({"schemaVersion": "v" * 10_000}, "schemaVersion", "longer than 255"),
        ({"status": "EXPIRED"}, "status", "cannot be created as expired"),
        ({"expiresAt": "2000-01-01T00:00:00Z"}, "expiresAt", "must be in the future"),
    ],
)
async def test_invalid_fields_write_nothing(
    gql: GraphQLClient, input: dict[str, Any], field: str, fragment: str
) -> None:
    body = await gql(CREATE, {"input": input})
    error = only_error(body)
    assert body["data"] is None
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert fragment in error["message"]
    assert await gql.data(COUNT) == {"sessions": {"totalCount": 0}}


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("mutation { createSession(input: {status: PAUSED}) { id } }", None, "PAUSED"),
        (CREATE, {"input": {"status": "paused"}}, "paused"),
        (CREATE, {"input": {"expiresAt": "tomorrow"}}, "expiresAt"),
        (CREATE, {"input": {"expiresAt": "2030-01-01T00:00:00"}}, "time zone"),
        (CREATE, {"input": {"owner": "me"}}, "owner"),
        ("{ sessions(first: 0) { totalCount } }", None, "first must be between 1 and 100"),
        ("{ sessions(first: 101) { totalCount } }", None, "first must be between 1 and 100"),
        ('{ sessions(after: "forged") { totalCount } }', None, "after is not a valid cursor"),
        ("{ nosuchfield }", None, "nosuchfield"),
        ("{ sessions {", None, "Syntax Error"),
    ],
)
async def test_malformed_requests_are_bad_user_input(
    gql: GraphQLClient, query: str, variables: dict[str, Any] | None, fragment: str
) -> None:
    response = await gql.post(query, variables)
    body = response.json()
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert fragment in error["message"]
    assert "Traceback" not in response.text
    assert await gql.data(COUNT) == {"sessions": {"totalCount": 0}}


async def test_event_input_errors(gql: GraphQLClient) -> None:
    sid = await session_id(gql)
    append = "mutation($id: ID!, $input: AppendEventInput!) { appendEvent(sessionId: $id, input: $input) { sequence } }"
    for input, code in (
        ({"type": "FATAL"}, "BAD_USER_INPUT"),
        ({"type": "INFO", "payload": [1]}, "BAD_USER_INPUT"),
        ({"type": "INFO", "message": ""}, "BAD_USER_INPUT"),
        ({"type": "INFO", "stage": "s" * 300}, "BAD_USER_INPUT"),
        ({}, "BAD_USER_INPUT"),
    ):
        error = only_error((await gql.post(append, {"id": sid, "input": input})).json())
        assert error["extensions"]["code"] == code, (input, error)
    missing = only_error(
        await gql(append, {"id": "sess_0123456789abcdef", "input": {"type": "INFO"}})
    )
    assert missing["extensions"] == {"code": "NOT_FOUND"}
    malformed = only_error(await gql(append, {"id": "../etc/passwd", "input": {"type": "INFO"}}))
    assert malformed["extensions"] == {"code": "NOT_FOUND"}
    count = await gql.data("query($id: ID!) { session(id: $id) { eventCount } }", {"id": sid})
    assert count == {"session": {"eventCount": 0}}


async def test_status_machine_over_graphql(gql: GraphQLClient) -> None:
    update = "mutation($id: ID!, $input: UpdateSessionInput!) { updateSession(id: $id, input: $input) { status } }"
    sid = await session_id(gql, status="ASSEMBLING")
    back = only_error(
        await gql(update, {"id": sid, "input": {"status": "GENERATING", "prd": {"x": 1}}})
    )
    assert back["extensions"] == {"code": "CONFLICT"}
    assert back["message"] == "status cannot move back from assembling to generating"
    assert await gql.data(update, {"id": sid, "input": {"status": "COMPLETED"}}) == {
        "updateSession": {"status": "COMPLETED"}
    }
    frozen = only_error(await gql(update, {"id": sid, "input": {"prd": {"x": 1}}}))
    assert frozen["extensions"] == {"code": "CONFLICT"}
    append = "mutation($id: ID!) { appendEvent(sessionId: $id, input: {type: INFO}) { sequence } }"
    late = only_error(await gql(append, {"id": sid}))
    assert late["extensions"] == {"code": "CONFLICT"}
    assert (
        late["message"] == "session is completed; events cannot be appended to a completed session"
    )
    cleared = only_error(await gql(update, {"id": sid, "input": {"status": None}}))
    assert cleared["extensions"]["code"] in ("BAD_USER_INPUT", "CONFLICT")
    state = await gql.data(
        "query($id: ID!) { session(id: $id) { status prd eventCount } }", {"id": sid}
    )
    assert state == {"session": {"status": "COMPLETED", "prd": None, "eventCount": 0}}


async def test_status_cannot_be_cleared(gql: GraphQLClient) -> None:
    sid = await session_id(gql)
    update = "mutation($id: ID!, $input: UpdateSessionInput!) { updateSession(id: $id, input: $input) { status } }"
    for input, field in (({"status": None}, "status"), ({"expiresAt": None}, "expiresAt")):
        error = only_error(await gql(update, {"id": sid, "input": input}))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
