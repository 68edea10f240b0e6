"""What operators scrape and probe: health, readiness, metrics, request ids, access logs."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from starlette.applications import Starlette

from db.store.engine import Database
from graph.app import create_app
from graph.ops.logs import configure_logging
from graph.settings import Settings
from tests.support.databases import fresh_database
from tests.support.graphql import GraphQLClient
from tests.support.server import running_server


async def test_healthz_and_readyz(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["migration"]


async def test_readyz_refuses_an_unmigrated_database(backend: str, tmp_path: object) -> None:
    import asyncio
    from pathlib import Path

    manager = fresh_database(backend, Path(str(tmp_path)))
    url = await asyncio.to_thread(manager.__enter__)
    db = Database(url)
    try:
        app = create_app(Settings(database_url=url), database=db)
        async with running_server(app) as base, httpx.AsyncClient(base_url=base) as http:
            response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["migration"] is None
    finally:
        await db.dispose()
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def test_readyz_refuses_an_unreachable_database(tmp_path: object) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    app = create_app(Settings(database_url=url))
    async with running_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/readyz")
    assert (response.status_code, response.json()) == (
        503,
        {"status": "unavailable", "database": "unreachable"},
    )


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{{{wanted}}}")


async def test_metrics_count_requests_and_appends(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    before = (await http.get("/metrics")).text
    base_requests = (
        _sample(
            before,
            "sessiongraph_http_requests_total",
            route="/graphql",
            method="POST",
            status="200",
        )
        if 'route="/graphql"' in before
        else 0.0
    )
    base_events = _sample(before, "sessiongraph_events_appended_total")
    sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"]["id"]
    for _ in range(3):
        await gql.data(
            "mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO}) { id } }",
            {"s": sid},
        )
    await http.post("/graphql", json={"query": "{ sessions { totalCount } }"})  # 401
    after = await http.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert (
        _sample(
            text, "sessiongraph_http_requests_total", route="/graphql", method="POST", status="200"
        )
        == base_requests + 4
    )
    assert (
        _sample(
            text, "sessiongraph_http_requests_total", route="/graphql", method="POST", status="401"
        )
        >= 1
    )
    assert _sample(text, "sessiongraph_events_appended_total") == base_events + 3
    assert _sample(text, "sessiongraph_http_request_duration_seconds_count", route="/graphql") >= 5
    assert "sessiongraph_subscriptions_open" in text and "sessiongraph_rate_limited_total" in text


async def test_request_ids_are_echoed_or_minted(http: httpx.AsyncClient) -> None:
    minted = await http.get("/healthz")
    assert re.fullmatch(r"req_[0-9a-f]{16}", minted.headers["x-request-id"])
    echoed = await http.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    refused = await http.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert refused.headers["x-request-id"].startswith("req_")


async def test_access_log_is_json_with_request_id(
    http: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    try:
        await http.get("/healthz", headers={"X-Request-ID": "trace-me"})
    finally:
        logging.getLogger().handlers = []
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("logger") == "sessiongraph.access"]
    assert access, lines
    entry = access[-1]
    assert (
        entry["request_id"] == "trace-me"
        and entry["status"] == 200
        and entry["route"] == "/healthz"
    )
    assert (
        entry["level"] == "INFO"
        and "time" in entry
        and entry["message"].startswith("GET /healthz 200")
    )


async def test_access_log_can_be_switched_off(
    db: Database, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """`SESSIONGRAPH_ACCESS_LOG=false`: no access line, while ids and metrics go on."""
    app = create_app(Settings(database_url=database_url, access_log=False), database=db)
    configure_logging("info", "json")
    try:
        async with running_server(app) as base, httpx.AsyncClient(base_url=base) as http:
            response = await http.get("/healthz", headers={"X-Request-ID": "quiet-one"})
            metrics = (await http.get("/metrics")).text
    finally:
        logging.getLogger().handlers = []
    assert response.headers["x-request-id"] == "quiet-one"
    assert (
        _sample(
            metrics,
            "sessiongraph_http_requests_total",
            route="/healthz",
            method="GET",
            status="200",
        )
        >= 1
    )
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert not [line for line in lines if json.loads(line).get("logger") == "sessiongraph.access"]


def test_app_is_a_starlette_app(app: Starlette) -> None:
    paths = {getattr(r, "path", None) for r in app.routes}
    assert {"/graphql", "/healthz", "/readyz", "/metrics"} <= paths
