"""Revocation takes effect on the very next request, whatever was answered before."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from db.keys import KeyWatch, key_watch_of, revoke_key, revoked_among
from db.store.engine import Database
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


async def test_key_watch_ends_only_revoked_keys_connections(db: Database) -> None:
    """The one watch WebSockets and SSE streams share: each revoked key's callbacks run
    once, within an interval; other keys' and unwatched ones' never do."""
    first, _ = await new_key(db)
    second, _ = await new_key(db)
    watch = KeyWatch(db, interval=0.05)
    ended: list[str] = []

    def ender(name: str) -> Callable[[], Awaitable[None]]:
        async def end() -> None:
            ended.append(name)

        return end

    async def broken() -> None:
        raise RuntimeError("this socket is already gone")

    watch.watch(first.key_id, broken)  # a failing close does not spare the others
    watch.watch(first.key_id, ender("a"))
    watch.watch(first.key_id, ender("b"))
    stop_c = watch.watch(first.key_id, ender("c"))
    watch.watch(second.key_id, ender("other"))
    stop_c()
    assert len(watch._watched) == 4
    await revoke_key(db, first.key_id)
    async with asyncio.timeout(10):
        while len(watch._watched) > 1:  # noqa: ASYNC110 - polls state the watch's task changes
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # several more rounds: nothing runs twice
    assert sorted(ended) == ["a", "b"]
    await watch.stop()


async def test_key_watch_polls_only_while_something_is_watched(db: Database) -> None:
    principal, _ = await new_key(db)
    watch = KeyWatch(db, interval=0.02)
    stop = watch.watch(principal.key_id, asyncio.sleep)  # type: ignore[arg-type]
    task = watch._task
    assert task is not None and not task.done()
    stop()
    async with asyncio.timeout(5):
        await task  # the loop ends by itself once nothing is watched
    assert key_watch_of(db) is key_watch_of(db, 3.0)
    assert key_watch_of(db).interval == 3.0
