"""`/openapi.json` is valid OpenAPI 3.1, covers exactly the served operations, and is made
from the models the handlers validate with; `/docs` works without the internet."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic.json_schema import models_json_schema
from starlette.applications import Starlette
from starlette.routing import Route

from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.http.auth import KeyRequired
from graph.live.sse import STREAM_PATH, EventStreams
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    ErrorBody,
    Session,
    UpdateSessionRequest,
)
from graph.rest.openapi import EVENT_STREAM_PATH, REF, openapi_document
from graph.rest.routing import OPERATIONS, Resource
from graph.settings import Settings
from tests.rest.conftest import Rest
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
            if route.path == STREAM_PATH and isinstance(inner, EventStreams):
                served[EVENT_STREAM_PATH] = {m.lower() for m in route.methods or ()} - {"head"}
    documented = {path: set(item) for path, item in openapi_document()["paths"].items()}
    assert documented == served
    assert documented == {
        BASE: {"get", "post"},
        f"{BASE}/{{id}}": {"get", "patch", "delete"},
        f"{BASE}/{{id}}/events": {"get", "post"},
        f"{BASE}/{{id}}/events/stream": {"get"},
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


def _stream_operation() -> dict[str, Any]:
    operation: dict[str, Any] = openapi_document()["paths"][EVENT_STREAM_PATH]["get"]
    return operation


def _documented(where: str) -> list[str]:
    return [p["name"] for p in _stream_operation()["parameters"] if p["in"] == where]


def test_stream_path_is_documented_like_the_other_paths() -> None:
    """A streaming answer, the errors in the shared shape, and the key the door asks for."""
    document = openapi_document()
    operation = _stream_operation()
    responses = operation["responses"]
    assert set(responses) == {"200", "204", "401", "404", "422", "429", "500"}
    assert list(responses["200"]["content"]) == ["text/event-stream"]
    assert "content" not in responses["204"]
    for status in ("401", "404", "422", "429", "500"):
        assert responses[status] == document["paths"][f"{BASE}/{{id}}/events"]["get"][
            "responses"
        ].get(status, responses[status])
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": REF.format(model="ErrorBody")
        }
    assert "security" not in operation and document["security"] == [{"apiKey": []}]
    assert _documented("path") == ["id"]
    assert _documented("header") == ["Last-Event-ID"]
    assert _documented("query") == ["after"]


class _Reads(dict[str, str]):
    """A mapping that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str], *, fold: bool = False) -> None:
        super().__init__(values)
        self.fold = fold
        self.read: set[str] = set()

    def _key(self, name: object) -> str:
        key = str(name)
        return key.lower() if self.fold else key

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(self._key(name))
        return super().get(self._key(name), default)

    def __getitem__(self, name: str) -> str:
        self.read.add(self._key(name))
        return super().__getitem__(self._key(name))

    def __contains__(self, name: object) -> bool:
        self.read.add(self._key(name))
        return super().__contains__(self._key(name))


class _Request:
    """What `EventStreams.respond` may touch of a request, with every read recorded."""

    def __init__(self, principal: Principal, session_id: str) -> None:
        self.scope = {"state": {"principal": principal}}
        self.path_params = _Reads({"session_id": session_id})
        self.query_params = _Reads({})
        self.headers = _Reads({}, fold=True)


async def test_stream_parameters_are_exactly_what_the_handler_reads(
    db: Database, principal: Principal, rest: Rest
) -> None:
    """The handler's reads of the request, recorded, are the documented parameters: a new
    query parameter or header in graph/live/sse.py that is not in the document fails here."""
    session = await rest.create()
    streams = EventStreams(db, keepalive_seconds=30)
    request = _Request(principal, session["id"])
    response = await streams.respond(request)  # type: ignore[arg-type]
    assert response.status_code == 200 and response.media_type == "text/event-stream"
    assert request.path_params.read == {"session_id"}
    assert STREAM_PATH.replace("{session_id}", "{id}") == EVENT_STREAM_PATH
    assert request.query_params.read == set(_documented("query"))
    assert request.headers.read == {name.lower() for name in _documented("header")}


def _raw_frames(text: str) -> Iterator[dict[str, Any]]:
    """Events as schemathesis and OpenAPI 3.2 read them: `{event, data, id}`; comments and
    data-less blocks (the opening `retry:`) are not events."""
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        data: list[str] = []
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id"):
                fields[name] = value
        if data:
            yield {**fields, "data": "\n".join(data)}


def _check_frames(text: str) -> list[dict[str, Any]]:
    """Each frame matches the documented event schema, and its data the schema of its kind."""
    document = openapi_document()
    schema = _stream_operation()["responses"]["200"]["content"]["text/event-stream"]["schema"]
    frames = list(_raw_frames(text))
    for frame in frames:
        OAS31Validator({**schema, "components": document["components"]}).validate(frame)
        (branch,) = [
            b for b in schema["oneOf"] if b["properties"]["event"]["const"] == frame["event"]
        ]
        content = {**branch["properties"]["data"]["contentSchema"]}
        OAS31Validator({**content, "components": document["components"]}).validate(
            json.loads(frame["data"])
        )
    return frames


def _resume(name: str, value: str) -> dict[str, Any]:
    """Request arguments that send one documented stream parameter."""
    where = {p["name"]: p["in"] for p in _stream_operation()["parameters"]}[name]
    return {"headers": {name: value.encode()}} if where == "header" else {"params": {name: value}}


async def test_each_documented_stream_parameter_works_as_documented(rest: Rest) -> None:
    """Each query parameter and header the document lists resumes the stream, refuses a
    non-number with the documented 422, and every frame matches the documented schema."""
    session = await rest.create()
    for kind in ("info", "warning", "error"):
        await rest.append(session["id"], {"type": kind, "payload": {"kind": kind}})
    patched = await rest.patch(f"{BASE}/{session['id']}", json={"status": "cancelled"})
    assert patched.status_code == 200, patched.text
    path = f"{BASE}/{session['id']}/events/stream"

    async with asyncio.timeout(30):
        whole = await rest.get(path)
        assert whole.status_code == 200
        assert whole.headers["content-type"].startswith("text/event-stream")
        frames = _check_frames(whole.text)
        assert [(f["event"], f.get("id")) for f in frames] == [
            ("event", "1"),
            ("event", "2"),
            ("event", "3"),
            ("end", None),
        ]
        for name in _documented("header") + _documented("query"):
            resumed = await rest.get(path, **_resume(name, "2"))
            assert resumed.status_code == 200, name
            assert [f["event"] for f in _check_frames(resumed.text)] == ["event", "end"], name
            assert json.loads(_check_frames(resumed.text)[0]["data"])["sequence"] == 3
            done = await rest.get(path, **_resume(name, "3"))
            assert (done.status_code, done.content) == (204, b""), name
            for value in ("x", "²", "٣", "-1", "1.5", "0x10", str(2**31), "9" * 40):
                bad = await rest.get(path, **_resume(name, value))
                assert bad.status_code == 422, (name, value, bad.text)
                assert bad.json()["error"]["code"] == "invalid_input"
                assert name in bad.json()["error"]["message"]


async def test_stream_errors_have_the_documented_shape(rest: Rest, http: httpx.AsyncClient) -> None:
    error_schema = {
        **_stream_operation()["responses"]["404"]["content"]["application/json"]["schema"],
        "components": openapi_document()["components"],
    }
    missing = await rest.get(f"{BASE}/sess_0000000000000000/events/stream")
    assert missing.status_code == 404
    OAS31Validator(error_schema).validate(missing.json())
    session = await rest.create()
    anonymous = await http.get(f"{BASE}/{session['id']}/events/stream")
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    OAS31Validator(error_schema).validate(anonymous.json())


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
    assert sorted(blocks) == ["delete", "get", "get", "get", "get", "patch", "post", "post"]
    assert "Stream a session's events (Server-Sent Events)" in dom
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
