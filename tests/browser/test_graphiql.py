"""GraphiQL in a real browser with no internet: assets served locally, a query runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from db.engine import Database
from graph.app import create_app
from graph.graphiql import install_assets, npm_available
from graph.settings import Settings
from tests.support.browser import offline_page, screenshot
from tests.support.server import running_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="session")
def graphiql_assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not npm_available():
        pytest.fail("npm is needed to fetch GraphiQL's assets for the offline test")
    folder = tmp_path_factory.mktemp("graphiql-assets")
    install_assets(folder)
    return folder


@pytest.fixture
async def offline_base_url(
    database_url: str, db: Database, graphiql_assets: Path
) -> AsyncIterator[str]:
    settings = Settings(database_url=database_url, graphiql_assets_dir=str(graphiql_assets))
    async with running_server(create_app(settings, database=db)) as url:
        yield url


async def test_graphiql_runs_a_query_offline(
    offline_base_url: str, api_key: str, backend: str
) -> None:
    async with offline_page() as page:
        headers = json.dumps({"Authorization": f"Bearer {api_key}"})
        await page.add_init_script(
            f"localStorage.setItem('sessiongraph:headers', {json.dumps(headers)})"
        )
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        await page.goto(f"{offline_base_url}/graphql", wait_until="networkidle")
        await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
        editor = await page.inner_text(".graphiql-query-editor")
        assert "query RecentSessions" in editor
        await page.click(".graphiql-execute-button")
        await page.wait_for_function(
            "document.querySelector('.graphiql-response')?.innerText.includes('totalCount')",
            timeout=30_000,
        )
        response = await page.inner_text(".graphiql-response")
        await screenshot(page, f"graphiql-{backend}")
        assert '"totalCount": 0' in response
        assert failed == []
