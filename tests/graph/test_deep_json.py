"""GraphQL: JSON fields nested past 64 levels are BAD_USER_INPUT naming the field, before
anything is stored, whether sent as variables or literals, on create, update and append;
what is accepted comes back in the mutation's own answer (which used to commit, then 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.db.test_deep_json import LIMIT, nested, nested_text, too_deep
from tests.support.graphql import GraphQLClient

FIELDS = "assemblyState prd productObject"
CREATE = (
    f"mutation($input: CreateSessionInput!) {{ createSession(input: $input) {{ id {FIELDS} }} }}"
)
UPDATE = (
    "mutation($id: ID!, $input: UpdateSessionInput!) {"
    f" updateSession(id: $id, input: $input) {{ id {FIELDS} }} }}"
)
APPEND = (
    "mutation($id: ID!, $input: AppendEventInput!) {"
    " appendEvent(sessionId: $id, input: $input) { sequence payload } }"
)
READ = f"query($id: ID!) {{ session(id: $id) {{ {FIELDS} eventCount }} sessions {{ totalCount }} }}"
INPUTS = {"assemblyState": "mixed", "prd": "objects", "productObject": "wide"}


async def _post_text(gql: GraphQLClient, query: str, variables_text: str) -> Any:
    """Variables written by hand: `json.dumps` of a deep value would itself overflow."""
    body = f'{{"query":{json.dumps(query)},"variables":{variables_text}}}'
    headers = {**gql.headers(), "Content-Type": "application/json"}
    return await gql.http.post("/graphql", content=body, headers=headers)


def _refused(body: dict[str, Any], field: str) -> None:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, body
    assert error["message"] == too_deep(field)


@pytest.mark.parametrize("depth", [1, LIMIT - 1, LIMIT])
async def test_values_up_to_the_limit_come_back_in_the_answer(
    gql: GraphQLClient, depth: int
) -> None:
    values = {field: nested(depth, shape) for field, shape in INPUTS.items()}
    created = (await gql.data(CREATE, {"input": values}))["createSession"]
    assert {f: created[f] for f in INPUTS} == values
    fresh = (await gql.data(CREATE, {"input": {}}))["createSession"]
    updated = await gql.data(UPDATE, {"id": fresh["id"], "input": values})
    assert {f: updated["updateSession"][f] for f in INPUTS} == values
    payload = nested(depth, "arrays")
    appended = await gql.data(
        APPEND, {"id": fresh["id"], "input": {"type": "INFO", "payload": payload}}
    )
    assert appended["appendEvent"] == {"sequence": 1, "payload": payload}
    read = await gql.data(READ, {"id": fresh["id"]})
    assert read["session"] == {**values, "eventCount": 1}
    assert read["sessions"]["totalCount"] == 2


@pytest.mark.parametrize("depth", [LIMIT + 1, LIMIT + 2, 100, 200, 250, 254, 255, 300, 1000])
async def test_variables_past_the_limit_are_refused(gql: GraphQLClient, depth: int) -> None:
    session = (await gql.data(CREATE, {"input": {"prd": {"kept": 1}}}))["createSession"]
    for field in INPUTS:
        variables = f'{{"input":{{"{field}":{nested_text(depth)}}}}}'
        response = await _post_text(gql, CREATE, variables)
        assert response.status_code == 200, response.text
        _refused(response.json(), field)
        variables = f'{{"id":"{session["id"]}","input":{{"{field}":{nested_text(depth)}}}}}'
        _refused((await _post_text(gql, UPDATE, variables)).json(), field)
    variables = (
        f'{{"id":"{session["id"]}","input":{{"type":"INFO","payload":{nested_text(depth)}}}}}'
    )
    _refused((await _post_text(gql, APPEND, variables)).json(), "payload")
    read = await gql.data(READ, {"id": session["id"]})
    assert read == {
        "session": {
            "assemblyState": None,
            "prd": {"kept": 1},
            "productObject": None,
            "eventCount": 0,
        },
        "sessions": {"totalCount": 1},
    }


def _literal(depth: int) -> str:
    return "{k: " * (depth - 1) + '{k: "bottom"}' + "}" * (depth - 1)


@pytest.mark.parametrize("depth", [LIMIT - 1, LIMIT])
async def test_literals_up_to_the_limit_are_stored(gql: GraphQLClient, depth: int) -> None:
    created = await gql.data(
        f"mutation {{ createSession(input: {{prd: {_literal(depth)}}}) {{ id prd }} }}"
    )
    assert created["createSession"]["prd"] == nested(depth)
    session_id = created["createSession"]["id"]
    appended = await gql.data(
        f'mutation {{ appendEvent(sessionId: "{session_id}",'
        f" input: {{type: INFO, payload: {_literal(depth)}}}) {{ payload }} }}"
    )
    assert appended["appendEvent"]["payload"] == nested(depth)


@pytest.mark.parametrize("depth", [LIMIT + 1, 100, 150])
async def test_literals_past_the_limit_are_refused(gql: GraphQLClient, depth: int) -> None:
    session = (await gql.data(CREATE, {"input": {}}))["createSession"]["id"]
    _refused(
        await gql(
            f"mutation {{ createSession(input: {{productObject: {_literal(depth)}}}) {{ id }} }}"
        ),
        "productObject",
    )
    _refused(
        await gql(
            f'mutation {{ updateSession(id: "{session}", input: {{prd: {_literal(depth)}}}) {{ id }} }}'
        ),
        "prd",
    )
    _refused(
        await gql(
            f'mutation {{ appendEvent(sessionId: "{session}",'
            f" input: {{type: INFO, payload: {_literal(depth)}}}) {{ id }} }}"
        ),
        "payload",
    )
    assert (await gql.data(READ, {"id": session}))["session"]["eventCount"] == 0


async def test_literals_deeper_than_the_parser_takes_are_syntax_errors(gql: GraphQLClient) -> None:
    body = await gql(f"mutation {{ createSession(input: {{prd: {_literal(300)}}}) {{ id }} }}")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await gql.data("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


@pytest.mark.parametrize("depth", [1_030, 5_000, 100_000])
async def test_bodies_too_deep_to_parse_are_refused(gql: GraphQLClient, depth: int) -> None:
    response = await _post_text(gql, CREATE, f'{{"input":{{"prd":{nested_text(depth)}}}}}')
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
