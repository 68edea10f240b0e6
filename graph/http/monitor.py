"""`/monitor`: a live view of an organisation's sessions and one session's events; one
static page (no framework, no CDN) that asks for a key and talks to `/graphql`."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

_PAGE = (Path(__file__).parent / "static" / "monitor.html").read_text()


async def monitor(_: Request) -> Response:
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})
