"""GraphiQL in a real browser with no internet: its files come from the server itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from playwright.async_api import Page, Response

from db.store.engine import Database
from graph.app import create_app
from graph.http.graphiql import ASSETS_ROUTE
from graph.settings import Settings
from tests.support.browser import offline_page, screenshot
from tests.support.server import running_server

pytestmark = pytest.mark.timeout(120)
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
ServerFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def server(database_url: str, db: Database) -> ServerFactory:
    """A running server with the default settings but for the given ones."""

    def start(**overrides: object) -> AbstractAsyncContextManager[str]:
        settings = Settings(database_url=database_url, auto_migrate=False, **overrides)
        return running_server(create_app(settings, database=db))

    return start


async def _set_headers(page: Page, headers: str) -> None:
    """Types into GraphiQL's Headers editor the way a person's paste would land."""
    await page.wait_for_selector(HEADERS_EDITOR)
    await page.eval_on_selector(
        HEADERS_EDITOR, "(e, value) => e.CodeMirror.setValue(value)", headers
    )


async def test_graphiql_runs_a_query_offline(
    server: ServerFactory, api_key: str, backend: str
) -> None:
    assets: list[Response] = []
    async with server() as base_url, offline_page() as page:
        page.on("response", lambda r: assets.append(r) if ASSETS_ROUTE in r.url else None)
        await page.goto(f"{base_url}/graphql", wait_until="networkidle")
        await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)

        hint = page.locator("#key-hint")
        assert await hint.is_visible()
        assert "Headers" in await hint.inner_text()
        assert "Authorization" in await hint.inner_text()
        headers_text = await page.inner_text(HEADERS_EDITOR)
        assert "Bearer <your key>" in headers_text
        assert "query RecentSessions" in await page.inner_text(".graphiql-query-editor")
        await screenshot(page, f"graphiql-start-{backend}")

        await _set_headers(page, json.dumps({"Authorization": f"Bearer {api_key}"}))
        await page.click(".graphiql-execute-button")
        await page.wait_for_function(
            "document.querySelector('.graphiql-response')?.innerText.includes('totalCount')",
            timeout=30_000,
        )
        response = await page.inner_text(".graphiql-response")
        await screenshot(page, f"graphiql-{backend}")
    assert '"totalCount": 0' in response
    served = {r.url.split("?")[0].rsplit("/", 1)[-1]: r.status for r in assets}
    assert served == {
        "react.production.min.js": 200,
        "react-dom.production.min.js": 200,
        "graphiql.min.js": 200,
        "graphiql.min.css": 200,
    }


async def test_graphiql_says_what_to_do_when_the_cdn_is_unreachable(
    server: ServerFactory, backend: str
) -> None:
    outside: list[str] = []
    async with server(graphiql_assets="cdn") as base_url, offline_page(outside) as page:
        await page.goto(f"{base_url}/graphql")
        status = page.locator("#graphiql-status.failed")
        await status.wait_for(timeout=30_000)
        text = await status.inner_text()
        await screenshot(page, f"graphiql-cdn-offline-{backend}")
    assert "could not be loaded from the CDN" in text
    assert "SESSIONGRAPH_GRAPHIQL_ASSETS" in text
    assert outside and all(url.startswith("https://unpkg.com/") for url in outside)


async def test_graphiql_subscribes_over_websocket_offline(
    server: ServerFactory, api_key: str, backend: str
) -> None:
    """The graphql-ws client bundled in GraphiQL carries the key from the Headers tab in
    connection_init: the server gets as far as looking the session up."""
    sockets: list[str] = []
    introspections: list[str] = []
    async with server() as base_url, offline_page() as page:
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.on(
            "request",
            lambda r: (
                introspections.append(r.headers.get("authorization", ""))
                if "IntrospectionQuery" in (r.post_data or "")
                else None
            ),
        )
        await page.goto(f"{base_url}/graphql", wait_until="networkidle")
        await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
        await _set_headers(page, json.dumps({"Authorization": f"Bearer {api_key}"}))
        # The schema is fetched again with the key once it is typed (docs and completion).
        for _ in range(100):
            if introspections[-1] == f"Bearer {api_key}":
                break
            await page.wait_for_timeout(100)
        query = 'subscription Watch { sessionEvents(sessionId: "sess_missing") { sequence } }'
        await page.eval_on_selector(
            ".graphiql-query-editor .CodeMirror", "(e, q) => e.CodeMirror.setValue(q)", query
        )
        await page.wait_for_timeout(500)  # GraphiQL reads the operation name after a debounce
        await page.click(".graphiql-execute-button")
        await page.wait_for_function(
            "document.querySelector('.graphiql-response')?.innerText.includes('sess_missing')",
            timeout=30_000,
        )
        response = await page.inner_text(".graphiql-response")
    assert introspections[-1] == f"Bearer {api_key}"
    assert sockets == [base_url.replace("http", "ws") + "/graphql"]
    assert "session sess_missing not found" in response
    assert "NOT_FOUND" in response
