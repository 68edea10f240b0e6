"""The browser pages. GraphiQL, pre-filled for sessiongraph, with its pinned files served from
/graphiql/assets (works offline) or loaded from unpkg.com, each tag with its integrity hash;
`/monitor`, a live view of an organisation's sessions and one session's events: one static
page (no framework, no CDN) that asks for a key and talks to `/graphql`."""

import html
import json
from pathlib import Path
from string import Template
from typing import Literal

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from graph.http.auth import PublicPage
from graph.http.graphiql_assets import SHIPPED, pinned_files, problems

ASSETS_ROUTE = "/graphiql/assets"
# The URL names the file's hash, so a changed file is a new URL: caching for a year is safe.
CACHE_FOREVER = "public, max-age=31536000, immutable"
STATIC = Path(__file__).parent / "static"
_TEMPLATE = Template((STATIC / "graphiql.html").read_text())
_MONITOR = (STATIC / "monitor.html").read_text()

Source = Literal["local", "cdn"]
# The page's placeholders and the shipped file each one loads.
PAGE_FILES = {
    "react_js": "react.production.min.js",
    "react_dom_js": "react-dom.production.min.js",
    "graphiql_js": "graphiql.min.js",
    "graphiql_css": "graphiql.min.css",
}
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

EXAMPLE_QUERY = (STATIC / "example.graphql").read_text()
DEFAULT_HEADERS = '{\n  "Authorization": "Bearer <your key>"\n}'

_LOCAL_HELP = (
    f"GraphiQL's files could not be loaded from this server ({ASSETS_ROUTE}/…). They ship "
    "with sessiongraph in graph/http/static/graphiql/: reinstall the package, or rebuild them "
    "with <code>sessiongraph graphiql-assets DIR</code> and set "
    "<code>SESSIONGRAPH_GRAPHIQL_ASSETS_DIR=DIR</code>, then reload."
)
_CDN_HELP = (
    "GraphiQL's files could not be loaded from the CDN (unpkg.com): this machine may be "
    "offline or the CDN blocked. Unset <code>SESSIONGRAPH_GRAPHIQL_ASSETS</code> (or set it "
    "to <code>local</code>) to use the copies shipped with sessiongraph, then reload."
)


def _attributes(file: str, source: Source) -> str:
    """A tag's URL (ours names the file's hash) and integrity attributes."""
    package, pinned = pinned_files()[file]
    if source == "cdn":
        url = f"https://unpkg.com/{package.name}@{package.version}/{pinned.source}"
        cross = ' crossorigin="anonymous"'
    else:
        version = pinned.integrity.removeprefix("sha384-")[:16].replace("+", "-").replace("/", "_")
        url, cross = f"{ASSETS_ROUTE}/{file}?v={version}", ""
    attribute = "href" if file.endswith(".css") else "src"
    return f'{attribute}="{html.escape(url)}" integrity="{pinned.integrity}"{cross}'


def _script_json(value: str) -> str:
    return json.dumps(value).replace("</", "<\\/")  # cannot end the <script> it sits in


def render_page(*, source: Source = "local") -> str:
    tags = {slot: _attributes(file, source) for slot, file in PAGE_FILES.items()}
    return _TEMPLATE.substitute(
        tags,
        example_query=_script_json(EXAMPLE_QUERY),
        default_headers=_script_json(DEFAULT_HEADERS),
        failure_help=_script_json(_CDN_HELP if source == "cdn" else _LOCAL_HELP),
    )


def asset_routes(folder: Path | None = None) -> list[Route]:
    """Routes serving the pinned files from `folder` (default: the shipped copies), checked so
    a broken copy stops start-up with the command that fixes it, not a blank page."""
    folder = folder or SHIPPED
    found = problems(folder)
    if found:
        raise ValueError(
            f"GraphiQL's files in {folder} are not the pinned build ({'; '.join(found)}): "
            f"run `sessiongraph graphiql-assets {folder}`"
        )
    files = {name: folder / name for name in pinned_files()}

    async def serve(request: Request) -> Response:
        path = files.get(request.path_params["name"])
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        media = _CONTENT_TYPES.get(path.suffix, "text/plain; charset=utf-8")
        return FileResponse(path, media_type=media, headers={"Cache-Control": CACHE_FOREVER})

    return [Route(f"{ASSETS_ROUTE}/{{name}}", serve, methods=["GET", "HEAD"])]


def ide_page(*, source: Source = "local") -> PublicPage:
    """The `public` hook of the /graphql guard: a browser asking for HTML gets GraphiQL."""
    page = render_page(source=source)

    async def serve(request: Request) -> Response | None:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        return HTMLResponse(page) if wants_page else None

    return serve


async def monitor(_: Request) -> Response:
    return HTMLResponse(_MONITOR, headers={"Cache-Control": "no-cache"})
