"""Another organisation's session answers exactly like one that does not exist, on every path."""

from __future__ import annotations

import httpx

from db.store.engine import Database
from tests.conftest import new_key
from tests.rest.conftest import BASE, Rest

MISSING = "sess_00000000deadbeef"


def requests_for(session_id: str) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("GET", f"{BASE}/{session_id}", None),
        ("PATCH", f"{BASE}/{session_id}", {"catalogVersion": "stolen"}),
        ("POST", f"{BASE}/{session_id}/events", {"type": "info"}),
        ("GET", f"{BASE}/{session_id}/events", None),
        ("DELETE", f"{BASE}/{session_id}", None),
    ]


async def test_other_organisations_ids_are_404_like_missing_ones(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, owner_key = await new_key(db)
    _, intruder_key = await new_key(db)
    owner, intruder = Rest(http, owner_key), Rest(http, intruder_key)
    session = await owner.create({"catalogVersion": "mine"})
    await owner.append(session["id"], {"type": "info"})
    before = (await owner.get(f"{BASE}/{session['id']}")).json()

    for (method, path, body), (_, missing_path, _) in zip(
        requests_for(session["id"]), requests_for(MISSING), strict=True
    ):
        theirs = await intruder.request(method, path, json=body)
        missing = await intruder.request(method, missing_path, json=body)
        assert theirs.status_code == missing.status_code == 404, (method, path)
        assert theirs.json() == {
            "error": {"code": "not_found", "message": f"session {session['id']} not found"}
        }
        assert missing.json() == {
            "error": {"code": "not_found", "message": f"session {MISSING} not found"}
        }
        assert theirs.headers.keys() == missing.headers.keys()

    assert (await intruder.get(BASE)).json() == {"data": [], "hasMore": False, "nextCursor": None}
    assert (await owner.get(f"{BASE}/{session['id']}")).json() == before


async def test_a_cursor_does_not_leak_across_organisations(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, owner_key = await new_key(db)
    _, other_key = await new_key(db)
    owner, other = Rest(http, owner_key), Rest(http, other_key)
    for _ in range(3):
        await owner.create()
    cursor = (await owner.get(BASE, params={"limit": 1})).json()["nextCursor"]
    page = await other.get(BASE, params={"cursor": cursor})
    assert page.json() == {"data": [], "hasMore": False, "nextCursor": None}
