"""Revocation takes effect on the very next request, whatever was answered before."""

from __future__ import annotations

from db.engine import Database
from db.keys import revoke_key, revoked_among
from tests.conftest import new_key
from tests.support.graphql import GraphQLClient

QUERY = "{ sessions { totalCount } }"


async def test_revoked_key_is_refused_at_once(gql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    for _ in range(5):
        assert (await gql.post(QUERY, key=key)).status_code == 200
    await revoke_key(db, principal.key_id)
    response = await gql.post(QUERY, key=key)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Other keys keep working.
    assert (await gql.post(QUERY)).status_code == 200


async def test_revoked_among_answers_for_many_keys_at_once(db: Database) -> None:
    first, _ = await new_key(db)
    second, _ = await new_key(db)
    assert await revoked_among(db, []) == set()
    assert await revoked_among(db, [first.key_id, second.key_id]) == set()
    await revoke_key(db, second.key_id)
    assert await revoked_among(db, [first.key_id, second.key_id, "key_gone"]) == {
        second.key_id,
        "key_gone",
    }
