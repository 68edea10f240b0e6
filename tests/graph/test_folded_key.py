"""A planned read checks the key in its own statement: one statement per request, and
every answer about the key (missing, unknown, revoked, over the limit) as before."""

from __future__ import annotations

import httpx

from db.keys import KEY_PREFIX, create_key, revoke_key
from db.records import Plan
from db.store.engine import Database
from tests.conftest import new_key, unique
from tests.support.graphql import GraphQLClient
from tests.support.sessions import append, new_session
from tests.support.statements import count_statements

QUERY = "query($id: ID!) { session(id: $id) { id events { nodes { sequence } } } }"


async def _planned(gql: GraphQLClient, key: str, session_id: str) -> httpx.Response:
    """The answer once the document has been through the standard path."""
    await gql.post(QUERY, {"id": session_id}, key=key)
    return await gql.post(QUERY, {"id": session_id}, key=key)


async def test_a_planned_read_is_one_statement(gql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    session_id = await new_session(db, principal)
    await append(db, principal, session_id, 2)
    await _planned(gql, key, session_id)
    with count_statements(db, leases=False) as counter:
        response = await gql.post(QUERY, {"id": session_id}, key=key)
    assert response.json() == {
        "data": {
            "session": {"id": session_id, "events": {"nodes": [{"sequence": 1}, {"sequence": 2}]}}
        }
    }
    assert counter.count == 1, counter.statements
    assert ";r=" in response.headers["RateLimit"]  # the rate limit was spent


async def test_revoked_unknown_and_missing_keys_are_refused(
    gql: GraphQLClient, db: Database
) -> None:
    principal, key = await new_key(db)
    session_id = await new_session(db, principal)
    assert (await _planned(gql, key, session_id)).status_code == 200
    await revoke_key(db, principal.key_id)
    revoked = await gql.post(QUERY, {"id": session_id}, key=key)
    unknown = await gql.post(QUERY, {"id": session_id}, key=KEY_PREFIX + "0" * 40)
    missing = await gql.http.post(
        "/graphql", json={"query": QUERY, "variables": {"id": session_id}}
    )
    for response in (revoked, unknown, missing):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" not in response.json()
    assert "revoked" in revoked.json()["errors"][0]["message"]
    assert "required" in missing.json()["errors"][0]["message"]


async def test_another_organisations_session_reads_as_null(
    gql: GraphQLClient, db: Database
) -> None:
    owner, _ = await new_key(db)
    _, stranger = await new_key(db)
    session_id = await new_session(db, owner)
    response = await _planned(gql, stranger, session_id)
    assert response.json() == {"data": {"session": None}}


async def test_over_the_limit_a_planned_read_is_429_without_data(
    gql: GraphQLClient, db: Database
) -> None:
    _, key = await create_key(db, unique("org"), "u", plan=Plan("tiny", 10, 3))
    answers = [await gql.post("{ sessions { totalCount } }", key=key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "data" not in answers[-1].json() and "Retry-After" in answers[-1].headers


async def test_a_request_the_fold_declines_still_gets_its_body(
    gql: GraphQLClient, db: Database
) -> None:
    """A mutation is read by the fold, declined, and then run with the same body."""
    _, key = await new_key(db)
    created = await gql.data("mutation { createSession(input: {}) { id } }", key=key)
    assert created["createSession"]["id"].startswith("sess_")
    malformed = await gql.http.post(
        "/graphql",
        content=b'{"query": ',
        headers={**gql.headers(key), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
