"""GraphiQL, pre-filled for sessiongraph, with its assets from a CDN or from a local folder.

Machines without internet fill a folder once with `sessiongraph graphiql-assets DIR`
(which fetches the pinned packages from the npm registry and checks their integrity) and
set `SESSIONGRAPH_GRAPHIQL_ASSETS_DIR=DIR`; the server then serves the files itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from graph.auth import PublicPage

ASSETS_ROUTE = "/graphiql/assets"
_TEMPLATE = Template((Path(__file__).parent / "static" / "graphiql.html").read_text())

EXAMPLE_QUERY = """# Welcome to sessiongraph.
# 1. Put your API key in the Headers tab below: {"Authorization": "Bearer sgk_..."}
# 2. Run this query with Ctrl-Enter (or the play button).
# Subscriptions work here too, e.g.
#   subscription { sessionEvents(sessionId: "sess_...") { sequence type message } }

query RecentSessions {
  sessions(first: 5) {
    totalCount
    nodes {
      id
      status
      assemblyState
      eventCount
      events(last: 3) { nodes { sequence type stage message createdAt } }
    }
  }
}
"""
DEFAULT_HEADERS = '{\n  "Authorization": "Bearer "\n}'


@dataclass(frozen=True)
class Asset:
    """One pinned file of an npm package, with its Subresource Integrity hash."""

    package: str
    version: str
    path: str
    integrity: str

    @property
    def filename(self) -> str:
        return Path(self.path).name

    @property
    def cdn_url(self) -> str:
        return f"https://unpkg.com/{self.package}@{self.version}/{self.path}"


ASSETS = {
    "react_js": Asset(
        "react",
        "18.2.0",
        "umd/react.production.min.js",
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    "react_dom_js": Asset(
        "react-dom",
        "18.2.0",
        "umd/react-dom.production.min.js",
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    "graphiql_js": Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    "graphiql_css": Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.css",
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
}


def _attributes(asset: Asset, *, local: bool) -> str:
    url = f"{ASSETS_ROUTE}/{asset.filename}" if local else asset.cdn_url
    attribute = "href" if asset.path.endswith(".css") else "src"
    cross = "" if local else ' crossorigin="anonymous"'
    return f'{attribute}="{html.escape(url)}" integrity="{asset.integrity}"{cross}'


def render_page(*, local_assets: bool) -> str:
    """The page, its script and style tags pointing at the CDN or at our own copies."""
    tags = {name: _attributes(asset, local=local_assets) for name, asset in ASSETS.items()}
    return _TEMPLATE.substitute(
        tags,
        example_query=json.dumps(EXAMPLE_QUERY).replace("</", "<\\/"),
        default_headers=json.dumps(DEFAULT_HEADERS),
    )


def integrity_of(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def install_assets(target: Path, *, npm: str = "npm") -> list[Path]:
    """Fetch the pinned packages with `npm pack` and copy the files the page needs.

    Each file's SHA-384 must equal the pinned integrity hash, so the folder holds exactly
    what a browser would accept from the CDN.
    """
    target.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        packed: dict[str, Path] = {}
        for asset in ASSETS.values():
            spec = f"{asset.package}@{asset.version}"
            if spec not in packed:
                out = subprocess.run(
                    [npm, "pack", spec, "--silent", "--pack-destination", scratch],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                packed[spec] = Path(scratch) / out.stdout.strip().splitlines()[-1]
            with tarfile.open(packed[spec]) as archive:
                member = archive.extractfile(f"package/{asset.path}")
                if member is None:
                    raise RuntimeError(f"{spec} has no {asset.path}")
                data = member.read()
            if integrity_of(data) != asset.integrity:
                raise RuntimeError(f"{spec}/{asset.path} does not match its pinned integrity hash")
            destination = target / asset.filename
            destination.write_bytes(data)
            written.append(destination)
    return written


def npm_available() -> bool:
    return shutil.which("npm") is not None


def missing_assets(folder: Path) -> list[str]:
    return [a.filename for a in ASSETS.values() if not (folder / a.filename).is_file()]


def ide_page(*, local_assets: bool) -> PublicPage:
    """The `public` hook of the /graphql guard: a browser asking for HTML gets GraphiQL."""
    page = render_page(local_assets=local_assets)

    async def serve(request: Request) -> Response | None:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        return HTMLResponse(page) if wants_page else None

    return serve
