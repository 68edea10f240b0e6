"""The production profile: no schema tour, no name hints, no internals in any response."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import db.sessions
from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.support.graphql import GraphQLClient
from tests.support.server import running_server

LEAKS = re.compile(
    r"Traceback|File \"|SELECT|INSERT|FROM |sqlalchemy|asyncpg|aiosqlite|Did you mean"
)


@pytest.fixture(params=["production", "development"])
def env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(
    database_url: str, db: Database, api_key: str, env: str
) -> AsyncIterator[GraphQLClient]:
    settings = Settings(database_url=database_url, auto_migrate=False, env=env)
    async with (
        running_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield GraphQLClient(http, api_key)


def assert_clean(body: dict[str, Any]) -> None:
    text = str(body)
    assert not LEAKS.search(text), text


async def test_introspection_only_in_development(client: GraphQLClient, env: str) -> None:
    body = await client("{ __schema { queryType { name } } }")
    if env == "production":
        assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in body["errors"])
        assert "introspection" in body["errors"][0]["message"].lower()
        assert body.get("data") is None
    else:
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    # __typename is not introspection of the schema and always works.
    assert (await client.data("{ __typename }")) == {"__typename": "Query"}


async def test_graphiql_only_in_development(client: GraphQLClient, env: str) -> None:
    response = await client.http.get("/graphql", headers={"Accept": "text/html"})
    has_ide = "graphiql" in response.text.lower()
    assert has_ide == (env == "development")


@pytest.mark.parametrize(
    "query",
    [
        "{ sessiosn { totalCount } }",  # field
        "{ sessions(frist: 1) { totalCount } }",  # argument
        "{ sessions(filter: {status: [PENDNG]}) { totalCount } }",  # enum value
        "query($f: SessionFiltr) { sessions(filter: $f) { totalCount } }",  # type
    ],
)
async def test_no_suggestions_in_production(client: GraphQLClient, env: str, query: str) -> None:
    body = await client(query)
    messages = " ".join(e["message"] for e in body["errors"])
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in body["errors"])
    if env == "production":
        assert "Did you mean" not in messages
        assert_clean(body)
    else:
        assert "Did you mean" in messages


async def test_unexpected_errors_are_masked(
    client: GraphQLClient,
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected failure answers INTERNAL with an id; the log has the id and the detail."""

    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("SELECT secret FROM sessions WHERE password = 'hunter2'")

    monkeypatch.setattr(db.sessions, "find_session", broken)
    with caplog.at_level(logging.ERROR, logger="sessiongraph.errors"):
        body = await client('{ session(id: "sess_0123456789abcdef") { id } }')
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    error_id = error["extensions"]["errorId"]
    assert re.fullmatch(r"err_[0-9a-f]{16}", error_id)
    assert error_id in error["message"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "hunter2" in caplog.text  # the full detail, traceback included, is in the log
    if env == "production":
        assert "detail" not in error["extensions"]
        assert "hunter2" not in str(body)
        assert_clean(body)


async def test_limit_errors_are_clean(client: GraphQLClient) -> None:
    body = await client(
        "{ sessions(first: 100) { nodes { events(first: 101) { nodes { id } } } } }"
    )
    assert body["errors"][0]["extensions"]["limit"] == "pageSize"
    assert_clean(body)


async def test_syntax_errors_are_clean(client: GraphQLClient) -> None:
    body = await client("{ sessions(first: ) { ")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_clean(body)
