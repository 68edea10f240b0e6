"""`/docs`: Swagger UI over `/openapi.json`, from the assets of an installed package.

Nothing is loaded from a CDN, so the page works on a machine with no internet access. The
validator badge, which would call out to the internet, is switched off.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from graph.http.jsonio import JSONResponse
from graph.rest.openapi import openapi_document

ASSETS = "/docs/assets"

PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>sessiongraph REST API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


async def openapi_json(_: Request) -> Response:
    return JSONResponse(openapi_document())


async def docs_page(_: Request) -> Response:
    return HTMLResponse(PAGE)


def docs_routes() -> list[BaseRoute]:
    """Public: the document and the page describe the API and need no key."""
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Mount(ASSETS, app=StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets"),
    ]
