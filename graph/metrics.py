"""Prometheus metrics and the access log, from one ASGI middleware that times every request.

Metrics are per process. With `serve --workers N`, set `PROMETHEUS_MULTIPROC_DIR` to an
empty directory so `/metrics` aggregates every worker (prometheus-client's multiprocess
mode).
"""

from __future__ import annotations

import logging
import os
import re
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("sessiongraph.access")

REQUESTS = Counter(
    "sessiongraph_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "sessiongraph_http_request_duration_seconds",
    "Time to the end of the response, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OPERATIONS = Counter(
    "sessiongraph_graphql_operations_total",
    "GraphQL operations by type, name (bounded) and outcome.",
    ["type", "name", "outcome"],
)
OPEN_SUBSCRIPTIONS = Gauge(
    "sessiongraph_subscriptions_open",
    "Live subscriptions and event streams currently open.",
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter(
    "sessiongraph_rate_limited_total", "Requests refused by an organisation's rate limit."
)

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")
_MAX_NAMES = 200
_seen_names: set[str] = set()


def operation_name_label(name: str | None) -> str:
    """Clients choose operation names; keep the label set bounded and well formed."""
    if not name or not _NAME.match(name):
        return "anonymous" if not name else "invalid"
    if name in _seen_names:
        return name
    if len(_seen_names) >= _MAX_NAMES:
        return "other"
    _seen_names.add(name)
    return name


def observe_operation(kind: str, name: str | None, ok: bool) -> None:
    OPERATIONS.labels(kind, operation_name_label(name), "ok" if ok else "error").inc()


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class Observed:
    """ASGI middleware: counts, times and logs each HTTP request once, when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route).observe(elapsed)
            access_log.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                extra={"route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)},
            )


async def metrics_endpoint(_: Request) -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
