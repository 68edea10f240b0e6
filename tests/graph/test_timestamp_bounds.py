"""GraphQL: a `DateTime` past either end of the calendar, or not a string at all, is
BAD_USER_INPUT with a clear message, as a variable or a literal, on create and update;
a session cursor naming such a time is refused too. Never INTERNAL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.db.test_timestamp_bounds import (
    BEFORE_THE_START,
    FAR_FUTURE,
    OUT_OF_RANGE,
    PAST_THE_END,
    _forged_cursor,
)
from tests.support.graphql import GraphQLClient

CREATE = "mutation($input: CreateSessionInput!) { createSession(input: $input) { id expiresAt } }"
UPDATE = (
    "mutation($id: ID!, $input: UpdateSessionInput!) {"
    " updateSession(id: $id, input: $input) { id expiresAt } }"
)
RANGE = "timestamp is out of range: in UTC it must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z"
COUNT = "{ sessions { totalCount } }"


def _bad_input(body: dict[str, Any]) -> str:
    assert "data" not in body or body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    message: str = error["message"]
    return message


@pytest.mark.parametrize("text", OUT_OF_RANGE)
async def test_variables_past_the_calendar(gql: GraphQLClient, text: str) -> None:
    message = _bad_input(await gql(CREATE, {"input": {"expiresAt": text}}))
    assert message == (
        f"Variable '$input' has invalid value at .expiresAt:"
        f" DateTime cannot represent {text!r}: {RANGE}"
    )
    session = (await gql.data(CREATE, {"input": {}}))["createSession"]
    message = _bad_input(await gql(UPDATE, {"id": session["id"], "input": {"expiresAt": text}}))
    assert message.endswith(f"DateTime cannot represent {text!r}: {RANGE}")
    assert (await gql.data(COUNT))["sessions"]["totalCount"] == 1


@pytest.mark.parametrize("text", OUT_OF_RANGE)
async def test_literals_past_the_calendar(gql: GraphQLClient, text: str) -> None:
    """Literals are checked during validation: the error points at the literal."""
    body = await gql(f'mutation {{ createSession(input: {{expiresAt: "{text}"}}) {{ id }} }}')
    assert _bad_input(body) == f"DateTime cannot represent {text!r}: {RANGE}"
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 45}]
    session = (await gql.data(CREATE, {"input": {}}))["createSession"]
    body = await gql(
        f'mutation {{ updateSession(id: "{session["id"]}", input: {{expiresAt: "{text}"}})'
        " { id } }"
    )
    assert _bad_input(body) == f"DateTime cannot represent {text!r}: {RANGE}"
    assert (await gql.data(COUNT))["sessions"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("literal", "shown"),
    [
        ("5", "a non-string value: 5"),
        ("-1.5", "a non-string value: -1.5"),
        ("true", "a non-string value: true"),
        ("TOMORROW", "a non-string value: TOMORROW"),
        ("{at: 1}", "a non-string value: { at: 1 }"),
        ('["2030-01-01T00:00:00Z"]', 'a non-string value: ["2030-01-01T00:00:00Z"]'),
        ('"soon"', "'soon': Invalid isoformat string: 'soon'"),
        ('"2030-01-01T00:00:00"', "'2030-01-01T00:00:00': timestamp must be RFC 3339 with a"),
    ],
)
async def test_literals_that_are_not_timestamps(
    gql: GraphQLClient, literal: str, shown: str
) -> None:
    body = await gql(f"mutation {{ createSession(input: {{expiresAt: {literal}}}) {{ id }} }}")
    assert _bad_input(body).startswith(f"DateTime cannot represent {shown}")
    assert (await gql.data(COUNT))["sessions"]["totalCount"] == 0


@pytest.mark.parametrize("value", [5, 1e300, True, {"at": 1}, ["2030-01-01T00:00:00Z"], ""])
async def test_variables_that_are_not_timestamps(gql: GraphQLClient, value: Any) -> None:
    body = await gql(CREATE, {"input": {"expiresAt": value}})
    assert "DateTime cannot represent" in _bad_input(body)
    assert (await gql.data(COUNT))["sessions"]["totalCount"] == 0


@pytest.mark.parametrize("text", PAST_THE_END[::3] + BEFORE_THE_START[::2])
async def test_a_cursor_naming_a_time_past_the_calendar(gql: GraphQLClient, text: str) -> None:
    await gql.data(CREATE, {"input": {}})
    body = await gql(
        "query($after: String) { sessions(after: $after) { totalCount } }",
        {"after": _forged_cursor(text)},
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
    assert error["message"] == "after is not a valid cursor"


async def test_the_last_millisecond_of_the_calendar_reads_back(gql: GraphQLClient) -> None:
    created = (await gql.data(CREATE, {"input": {"expiresAt": "9999-12-31T00:00:00-23:59"}}))[
        "createSession"
    ]
    assert created["expiresAt"] == "9999-12-31T23:59:00.000Z"
    updated = await gql.data(UPDATE, {"id": created["id"], "input": {"expiresAt": FAR_FUTURE}})
    assert updated["updateSession"]["expiresAt"] == FAR_FUTURE
    read = await gql.data(
        "query($id: ID!) { session(id: $id) { expiresAt status } sessions { nodes { expiresAt } } }",
        {"id": created["id"]},
    )
    assert json.dumps(read) == json.dumps(
        {
            "session": {"expiresAt": FAR_FUTURE, "status": "PENDING"},
            "sessions": {"nodes": [{"expiresAt": FAR_FUTURE}]},
        }
    )
