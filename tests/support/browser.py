"""Headless Chromium (Debian's) driven by Playwright, cut off from everything but loopback.

Browser tests skip when Chromium is not installed, unless `SESSIONGRAPH_REQUIRE_BROWSER=1`
(as in CI, which installs it), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.async_api import Page, Route, async_playwright

CHROMIUM = os.environ.get("SESSIONGRAPH_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("SESSIONGRAPH_REQUIRE_BROWSER", "") not in ("", "0")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)


async def _loopback_only(route: Route) -> None:
    """Anything not on this machine fails, as it would without internet."""
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", "localhost", "::1"):
        await route.continue_()
    else:
        await route.abort("internetdisconnected")


@asynccontextmanager
async def offline_page() -> AsyncIterator[Page]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            await context.route("**/*", _loopback_only)
            page = await context.new_page()
            yield page
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
