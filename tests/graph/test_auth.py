"""API keys at the door: 401 with a JSON error for anything but a valid, unrevoked key."""

from __future__ import annotations

import httpx
import pytest

from db.keys import revoke_key
from db.records import Principal
from db.store.engine import Database

QUERY = {"query": "{ sessions { totalCount } }"}
UNAUTHENTICATED_BODIES = {
    "missing": "an API key is required: send 'Authorization: Bearer <key>'",
    "bad": "the API key is not valid",
    "unknown": "the API key is not valid or has been revoked",
}


def assert_401(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


async def test_missing_key(http: httpx.AsyncClient) -> None:
    assert_401(await http.post("/graphql", json=QUERY), UNAUTHENTICATED_BODIES["missing"])
    assert_401(
        await http.post("/graphql", json=QUERY, headers={"Authorization": "Bearer"}),
        UNAUTHENTICATED_BODIES["missing"],
    )
    assert_401(await http.get("/graphql", params=QUERY), UNAUTHENTICATED_BODIES["missing"])


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Basic dXNlcjpwYXNz", "sgk_" + "0" * 40, "Bearer sgk_" + "0" * 40]
)
async def test_wrong_keys(http: httpx.AsyncClient, header: str) -> None:
    response = await http.post("/graphql", json=QUERY, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_bearer_and_bare_keys_work(http: httpx.AsyncClient, api_key: str) -> None:
    for header in (f"Bearer {api_key}", f"bearer {api_key}", api_key):
        response = await http.post("/graphql", json=QUERY, headers={"Authorization": header})
        assert response.json() == {"data": {"sessions": {"totalCount": 0}}}
    response = await http.get("/graphql", params=QUERY, headers={"Authorization": api_key})
    assert response.json() == {"data": {"sessions": {"totalCount": 0}}}


async def test_revoked_key_is_refused_at_once(
    http: httpx.AsyncClient, db: Database, api_key: str, principal: Principal
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    assert (await http.post("/graphql", json=QUERY, headers=headers)).status_code == 200
    await revoke_key(db, principal.key_id)
    assert_401(
        await http.post("/graphql", json=QUERY, headers=headers), UNAUTHENTICATED_BODIES["unknown"]
    )


async def test_graphiql_page_loads_without_a_key(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_no_trailing_slash_redirect_and_health(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 200
    health = await http.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
