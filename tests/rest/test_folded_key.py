"""`GET /:id` checks the key in the statement that reads the session: one statement."""

from __future__ import annotations

from db.keys import revoke_key
from db.store.engine import Database
from tests.conftest import new_key
from tests.rest.conftest import BASE, Rest
from tests.support.statements import count_statements


async def test_get_is_one_statement_with_etag_and_304(rest: Rest, db: Database) -> None:
    session = await rest.create()
    await rest.append(session["id"], {"type": "info"})
    with count_statements(db, leases=False) as counter:
        response = await rest.get(f"{BASE}/{session['id']}")
    assert counter.count == 1, counter.statements
    assert response.status_code == 200 and len(response.json()["events"]) == 1
    etag = response.headers["ETag"]
    assert etag == f'"{session["id"]}.1.1"' and "RateLimit" in response.headers
    again = await rest.get(f"{BASE}/{session['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag and not again.content


async def test_missing_foreign_and_revoked_answer_as_before(rest: Rest, db: Database) -> None:
    session = await rest.create()
    _, stranger = await new_key(db)
    missing = await rest.get(f"{BASE}/sess_0123456789abcdef")
    foreign = await rest.http.get(
        f"{BASE}/{session['id']}", headers={"Authorization": f"Bearer {stranger}"}
    )
    for response in (missing, foreign):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    principal, key = await new_key(db)
    own = await rest.http.post(BASE, json={}, headers={"Authorization": f"Bearer {key}"})
    await revoke_key(db, principal.key_id)
    revoked = await rest.http.get(
        f"{BASE}/{own.json()['id']}", headers={"Authorization": f"Bearer {key}"}
    )
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthenticated"
