"""ETags: they change with the session and with its log; If-None-Match and If-Match hold,
also when two clients race with the same ETag over real connections."""

from __future__ import annotations

import asyncio

import httpx

from tests.rest.conftest import BASE, Rest


async def test_etag_changes_with_fields_and_events_and_304s_otherwise(rest: Rest) -> None:
    session = await rest.create()
    path = f"{BASE}/{session['id']}"
    first = await rest.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert (await rest.get(path)).headers["etag"] == etag

    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        cached = await rest.get(path, headers={"If-None-Match": header})
        assert (cached.status_code, cached.content) == (304, b"")
        assert cached.headers["etag"] == etag
    assert (await rest.get(path, headers={"If-None-Match": '"nope"'})).status_code == 200

    await rest.append(session["id"], {"type": "info"})
    after_append = (await rest.get(path)).headers["etag"]
    assert after_append != etag
    assert (await rest.get(path, headers={"If-None-Match": etag})).status_code == 200

    await rest.patch(path, json={"catalogVersion": "v2"})
    after_patch = (await rest.get(path)).headers["etag"]
    assert after_patch not in (etag, after_append)


async def test_two_concurrent_patches_with_one_etag(base_url: str, rest: Rest) -> None:
    """Exactly one wins; the loser changes nothing. Repeated to give the race a chance."""
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        racer = Rest(http, rest.key)
        session = await racer.create()
        path = f"{BASE}/{session['id']}"
        for round_ in range(5):
            etag = (await racer.get(path)).headers["etag"]
            responses = await asyncio.gather(
                racer.patch(
                    path, json={"catalogVersion": f"a{round_}"}, headers={"If-Match": etag}
                ),
                racer.patch(
                    path, json={"catalogVersion": f"b{round_}"}, headers={"If-Match": etag}
                ),
            )
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200, 412], [r.text for r in responses]
            winner = next(r for r in responses if r.status_code == 200).json()
            stored = (await racer.get(path)).json()
            assert stored == winner
            assert stored["catalogVersion"] in (f"a{round_}", f"b{round_}")
