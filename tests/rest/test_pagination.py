"""Walking 250 sessions in pages of 100/100/50 sees each exactly once while others are created."""

from __future__ import annotations

from db import sessions as session_ops
from db.records import Principal
from db.store.engine import Database
from tests.rest.conftest import BASE, Rest


async def test_walk_250_sessions_while_new_ones_arrive(
    rest: Rest, db: Database, principal: Principal
) -> None:
    original = [(await session_ops.create_session(db, principal, {})).id for _ in range(250)]
    seen: list[str] = []
    keys: list[tuple[str, str]] = []
    sizes: list[int] = []
    cursor: str | None = None
    created_during_walk: list[str] = []
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor is not None:
            params["cursor"] = cursor
        response = await rest.get(BASE, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        sizes.append(len(page["data"]))
        seen += [s["id"] for s in page["data"]]
        keys += [(s["createdAt"], s["id"]) for s in page["data"]]
        # Newer sessions appear mid-walk; they sort before the cursor and must not shift it.
        for _ in range(7):
            created_during_walk.append((await rest.create())["id"])
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            break
        cursor = page["nextCursor"]
    assert sizes == [100, 100, 50]
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == set(original)
    assert keys == sorted(keys, reverse=True)  # newest first, ties broken by id
    assert not set(created_during_walk) & set(seen)
    first_page = (await rest.get(BASE, params={"limit": 100})).json()["data"]
    assert {s["id"] for s in first_page[:21]} == set(created_during_walk)
