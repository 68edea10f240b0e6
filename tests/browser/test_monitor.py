"""The live monitor in a real browser: sessions and progress update live, events stream in
through REST appends, and a dropped connection resumes without losing or repeating any."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page

from tests.support.browser import offline_page, screenshot

pytestmark = pytest.mark.timeout(120)
SESSIONS = "/v1/products/generation/sessions"


async def append(http: httpx.AsyncClient, session_id: str, count: int, start: int) -> None:
    for index in range(start, start + count):
        response = await http.post(
            f"{SESSIONS}/{session_id}/events",
            json={
                "type": ("info", "debug", "warning", "error")[index % 4],
                "stage": "generating",
                "message": f"step {index}",
            },
        )
        assert response.status_code == 201, response.text


async def shown_sequences(page: Page) -> list[int]:
    values = await page.eval_on_selector_all(
        "#events li.event", "items => items.map(i => +i.dataset.sequence)"
    )
    return [int(v) for v in values]


async def shown_ids(page: Page) -> list[str]:
    """Ids as the page renders them (`innerText` applies CSS such as `text-transform`), so
    what a reader sees and copies."""
    values = await page.eval_on_selector_all(".id", "items => items.map(i => i.innerText)")
    return [str(v) for v in values]


async def test_monitor_follows_a_session_live(base_url: str, api_key: str, backend: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http,
        offline_page() as page,
    ):
        created = await http.post(
            SESSIONS, json={"status": "generating", "assemblyState": {"progress": 10}}
        )
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        await append(http, session_id, 3, 1)

        await page.goto(f"{base_url}/monitor")
        await page.fill("#key", api_key)
        await page.click("button[type=submit]")
        await page.wait_for_selector("body[data-connection=live]", timeout=20_000)
        row = f"tr.session[data-id='{session_id}']"
        await page.wait_for_selector(row, timeout=20_000)

        # A session created after the page loaded appears through sessionUpdates.
        later = (await http.post(SESSIONS, json={})).json()["id"]
        await page.wait_for_selector(f"tr.session[data-id='{later}']", timeout=20_000)

        # Progress moves live.
        patched = await http.patch(
            f"{SESSIONS}/{session_id}", json={"assemblyState": {"progress": 75}}
        )
        assert patched.status_code == 200, patched.text
        await page.wait_for_selector(f"{row}[data-progress='75']", timeout=20_000)

        await page.click(row)
        await page.wait_for_function(
            "document.querySelectorAll('#events li.event').length === 3", timeout=20_000
        )
        # Ids read exactly as the API spells them (lowercase hex), in the list and the heading.
        assert sorted(await shown_ids(page)) == sorted([session_id, later, session_id])
        assert (await page.inner_text("section:nth-of-type(2) h2")).endswith(session_id)
        await append(http, session_id, 4, 4)
        await page.wait_for_function(
            "document.querySelectorAll('#events li.event').length === 7", timeout=20_000
        )
        await screenshot(page, f"monitor-live-{backend}")

        # Drop the connection, keep writing, and expect every event exactly once.
        await page.evaluate("state.socket.close()")
        await page.wait_for_selector("body[data-connection=down]", timeout=10_000)
        await append(http, session_id, 5, 8)
        await page.wait_for_selector("body[data-connection=live]", timeout=20_000)
        await page.wait_for_function(
            "document.querySelectorAll('#events li.event').length === 12", timeout=20_000
        )
        assert await shown_sequences(page) == list(range(1, 13))

        finished = await http.patch(f"{SESSIONS}/{session_id}", json={"status": "completed"})
        assert finished.status_code == 200
        await page.wait_for_selector(f"{row}[data-status='completed']", timeout=20_000)
        await page.wait_for_selector("#events li.note", timeout=20_000)
        await screenshot(page, f"monitor-resumed-{backend}")
        assert await shown_sequences(page) == list(range(1, 13))
