"""Automatic persisted queries over HTTP, GET and POST, on both databases."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema
from graphql.language.parser import Parser

from graph.plan.persisted import sha256_hex
from tests.support.graphql import GraphQLClient

RESPONSE_JSON = "application/graphql-response+json"


def document() -> str:
    """A text no other test sends, so process-wide parse caches start cold for it."""
    return f"query P{secrets.token_hex(4)} {{ sessions(first: 1) {{ totalCount }} }}"


def persisted(text: str, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hex(text)}}


async def post(
    gql: GraphQLClient, body: dict[str, Any], accept: str = "application/json"
) -> httpx.Response:
    headers = {**gql.headers(), "Accept": accept}
    return await gql.http.post("/graphql", json=body, headers=headers)


async def get(
    gql: GraphQLClient, params: dict[str, Any], accept: str = "application/json"
) -> httpx.Response:
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    headers = {**gql.headers(), "Accept": accept}
    return await gql.http.get("/graphql", params=encoded, headers=headers)


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body, body
    (error,) = body["errors"]
    return dict(error)


def assert_not_found(response: httpx.Response, status: int = 200) -> None:
    assert response.status_code == status, response.text
    assert only_error(response) == {
        "message": "PersistedQueryNotFound",
        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
    }


def assert_data(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"sessions": {"totalCount": 0}}}


async def test_post_miss_register_then_hit(gql: GraphQLClient) -> None:
    text = document()
    assert_not_found(await post(gql, {"extensions": persisted(text)}))
    assert_data(await post(gql, {"query": text, "extensions": persisted(text)}))
    assert_data(await post(gql, {"extensions": persisted(text)}))


async def test_get_miss_register_then_hit(gql: GraphQLClient) -> None:
    text = document()
    assert_not_found(await get(gql, {"extensions": persisted(text)}))
    assert_data(await get(gql, {"query": text, "extensions": persisted(text)}))
    assert_data(await get(gql, {"extensions": persisted(text)}))


async def test_miss_is_a_request_error_under_graphql_response_json(gql: GraphQLClient) -> None:
    """400 like every request error in that media type; Apollo Client and urql both read
    the body of a 400 `application/graphql-response+json` answer and retry."""
    response = await post(gql, {"extensions": persisted(document())}, accept=RESPONSE_JSON)
    assert_not_found(response, status=400)
    assert response.headers["content-type"].startswith(RESPONSE_JSON)


async def test_hash_registered_by_post_serves_get(gql: GraphQLClient) -> None:
    text = document()
    assert_data(await post(gql, {"query": text, "extensions": persisted(text)}))
    assert_data(await get(gql, {"extensions": persisted(text)}))


async def test_mismatched_hash_is_refused_and_not_stored(gql: GraphQLClient) -> None:
    text, other = document(), document()
    response = await post(gql, {"query": text, "extensions": persisted(other)})
    assert response.status_code == 400
    assert only_error(response)["message"] == "provided sha does not match query"
    assert_not_found(await post(gql, {"extensions": persisted(other)}))


@pytest.mark.parametrize("version", [2, "1", None])
async def test_unsupported_version(gql: GraphQLClient, version: object) -> None:
    text = document()
    response = await post(gql, {"query": text, "extensions": persisted(text, version)})
    assert response.status_code == 400
    error = only_error(response)
    assert error["extensions"]["code"] == "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
    assert "Unsupported persisted query version" in error["message"]


async def test_malformed_persisted_query(gql: GraphQLClient) -> None:
    for extensions in ({"persistedQuery": "x"}, {"persistedQuery": {"version": 1}}):
        response = await post(gql, {"extensions": extensions})
        assert response.status_code == 400, response.text
        assert only_error(response)["extensions"]["code"] == "BAD_USER_INPUT"


async def test_neither_query_nor_persisted_document(gql: GraphQLClient) -> None:
    response = await get(gql, {"extensions": {"other": 1}})
    assert response.status_code == 400
    assert only_error(response)["message"] == "the request needs a 'query' string"


async def test_mutation_by_hash_over_get_stays_refused(gql: GraphQLClient) -> None:
    text = f'mutation M{secrets.token_hex(4)} {{ deleteSession(id: "sess_0000000000000000") }}'
    registered = await post(gql, {"query": text, "extensions": persisted(text)})
    assert registered.status_code == 200, registered.text
    response = await get(gql, {"extensions": persisted(text)})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.fixture
def work_counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Every document graphql-core really parses and every one Strawberry validates."""
    seen: dict[str, list[str]] = {"parsed": [], "validated": []}
    parse_document = Parser.parse_document
    validate = strawberry_schema.validate  # type: ignore[attr-defined]

    def counting_parse(self: Parser) -> Any:
        seen["parsed"].append(self._lexer.source.body)
        return parse_document(self)

    def counting_validate(schema: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        seen["validated"].append(document.loc.source.body if document.loc else "")
        return validate(schema, document, *args, **kwargs)

    monkeypatch.setattr(Parser, "parse_document", counting_parse)
    monkeypatch.setattr(strawberry_schema, "validate", counting_validate)
    yield seen


async def test_persisted_document_skips_parsing_and_validation_after_first_use(
    gql: GraphQLClient, work_counts: dict[str, list[str]]
) -> None:
    text = document()
    assert_data(await post(gql, {"query": text, "extensions": persisted(text)}))
    assert work_counts["parsed"].count(text) == 1
    assert work_counts["validated"].count(text) == 1
    for _ in range(3):
        assert_data(await post(gql, {"extensions": persisted(text)}))
        assert_data(await get(gql, {"extensions": persisted(text)}))
    assert work_counts["parsed"].count(text) == 1
    assert work_counts["validated"].count(text) == 1
