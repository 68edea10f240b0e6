"""`/openapi.json` is valid OpenAPI 3.1, covers exactly the served operations, and is made
from the models the handlers validate with; `/docs` works without the internet."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic.json_schema import models_json_schema
from starlette.applications import Starlette
from starlette.routing import Route

from graph.app import create_app
from graph.auth import KeyRequired
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    ErrorBody,
    Session,
    UpdateSessionRequest,
)
from graph.rest.openapi import REF, openapi_document
from graph.rest.operations import OPERATIONS
from graph.rest.routing import Resource
from graph.settings import Settings
from tests.support.server import running_server

BASE = "/v1/products/generation/sessions"


async def test_document_is_public_and_valid_openapi_3_1(http: httpx.AsyncClient) -> None:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document == openapi_document()
    validate(document)


def test_paths_and_methods_are_exactly_the_served_ones(app: Starlette) -> None:
    served: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route) and isinstance(route.app, KeyRequired):
            inner = route.app.app
            if isinstance(inner, Resource) and not route.path.endswith("/"):
                served[route.path] = {m.lower() for m in inner.operations}
    documented = {path: set(item) for path, item in openapi_document()["paths"].items()}
    assert documented == served
    assert documented == {
        BASE: {"get", "post"},
        f"{BASE}/{{id}}": {"get", "patch", "delete"},
        f"{BASE}/{{id}}/events": {"get", "post"},
    }


def test_every_operation_documents_its_statuses_and_parameters() -> None:
    paths = openapi_document()["paths"]
    for operation in OPERATIONS:
        entry = paths[operation.path][operation.method.lower()]
        statuses = set(entry["responses"])
        assert {"401", "500", str(operation.success_status)} <= statuses
        assert {str(s) for s in operation.statuses} <= statuses
        names = {p["name"] for p in entry["parameters"]}
        if "{id}" in operation.path:
            assert "id" in names
        if operation.body is not None:
            assert {"400", "413", "415", "422"} <= statuses
            assert entry["requestBody"]["required"] is True
        for status, response in entry["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": REF.format(model="ErrorBody")
                }
    get = paths[f"{BASE}/{{id}}"]["get"]
    assert "304" in get["responses"] and get["responses"]["200"]["headers"]["ETag"]["required"]
    assert [p["name"] for p in get["parameters"]] == ["id", "If-None-Match"]
    assert "If-Match" in {p["name"] for p in paths[f"{BASE}/{{id}}"]["patch"]["parameters"]}
    create = paths[BASE]["post"]
    assert "Location" in create["responses"]["201"]["headers"]
    assert {p["name"] for p in create["parameters"]} == {"Idempotency-Key"}
    assert {p["name"]: p["required"] for p in paths[BASE]["get"]["parameters"]} == {
        "limit": False,
        "cursor": False,
        "status": False,
        "userId": False,
    }


def _refs(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "$ref" in value:
            found.add(value["$ref"])
        for item in value.values():
            found |= _refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    return found


def test_schemas_come_from_the_handlers_models() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    for model, mode in (
        (CreateSessionRequest, "validation"),
        (UpdateSessionRequest, "validation"),
        (AppendEventRequest, "validation"),
        (Session, "serialization"),
        (ErrorBody, "serialization"),
    ):
        _, definitions = models_json_schema([(model, mode)], ref_template=REF)  # type: ignore[list-item]
        assert schemas[model.__name__] == definitions["$defs"][model.__name__]
    create = schemas["CreateSessionRequest"]
    assert create["additionalProperties"] is False
    assert "expired" not in create["properties"]["status"]["anyOf"][0]["enum"]
    update = schemas["UpdateSessionRequest"]["properties"]
    assert "anyOf" not in update["status"] and "default" not in update["status"]
    assert schemas["AppendEventRequest"]["required"] == ["type"]
    session = schemas["Session"]
    assert list(session["properties"]) == sorted(session["properties"])
    assert set(session["required"]) == set(session["properties"])


async def test_docs_page_loads_its_assets_from_this_server(http: httpx.AsyncClient) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//[a-z]", page.text), "the page must not reach the internet"
    assert "validatorUrl: null" in page.text and 'url: "/openapi.json"' in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert set(assets) == {
        "/docs/assets/swagger-ui.css",
        "/docs/assets/favicon-32x32.png",
        "/docs/assets/swagger-ui-bundle.js",
    }
    for asset in assets:
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 500
    bundle = (await http.get("/docs/assets/swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in bundle and "isOAS31" in bundle  # Swagger UI 5 reads OpenAPI 3.1


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium (apt-get install chromium)")
@pytest.mark.timeout(120)
async def test_docs_page_renders_every_operation_in_a_browser(tmp_path: Path) -> None:
    """Headless Chromium, with background networking off, draws one block per operation.

    The page touches no data, so one run on a throwaway SQLite file is enough.
    """
    assert CHROMIUM is not None
    settings = Settings(database_url=f"sqlite:///{tmp_path}/docs.db", auto_migrate=False)
    async with running_server(create_app(settings)) as base_url:
        dom = await _rendered(CHROMIUM, f"{base_url}/docs")
    blocks = re.findall(r'class="opblock opblock-([a-z]+)', dom)
    assert sorted(blocks) == ["delete", "get", "get", "get", "patch", "post", "post"]
    assert "OAS 3.1" in dom


async def _rendered(chromium: str, url: str) -> str:
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(90):
            dom, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return dom.decode()
