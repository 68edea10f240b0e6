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
    # Below Playwright's routing, the browser itself cannot reach anything but loopback
    # either: every other host name fails to resolve and any proxied request hits a dead
    # port, as on a machine without internet.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1;localhost",
]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def require_chromium() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)


def _leaves_loopback(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme not in ("data", "blob", "about") and parsed.hostname not in LOOPBACK


async def _loopback_only(route: Route) -> None:
    """Anything not on this machine fails, as it would without internet."""
    if _leaves_loopback(route.request.url):
        await route.abort("internetdisconnected")
    else:
        await route.continue_()


@asynccontextmanager
async def offline_page(outside: list[str] | None = None) -> AsyncIterator[Page]:
    """A page cut off from all but loopback, watching every request its context makes.

    Requests for other hosts are recorded in `outside` when given (a test about what a
    page does offline); without it, any such request fails the test when the page closes.
    """
    require_chromium()
    attempted: list[str] = [] if outside is None else outside
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            context.on(
                "request",
                lambda request: (
                    attempted.append(request.url) if _leaves_loopback(request.url) else None
                ),
            )
            await context.route("**/*", _loopback_only)
            page = await context.new_page()
            yield page
        finally:
            await browser.close()
    if outside is None:
        assert attempted == [], f"requests left loopback: {attempted}"


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
