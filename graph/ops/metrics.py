"""Prometheus metrics and the access log, from one ASGI middleware that times every request.
With `serve --workers N`, `PROMETHEUS_MULTIPROC_DIR` makes `/metrics` sum every worker."""

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from graphql import DocumentNode, GraphQLError, get_operation_ast
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

from graph.ops.logs import REQUEST_ID_HEADER, current_request_id, request_id_from
from graph.plan.limits import Limits, size_error

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
DB_CONNECTIONS = Gauge(
    "sessiongraph_db_connections",
    "PostgreSQL connections open, by pool (orm: SQLAlchemy, raw: the driver's pool for hot "
    "reads and appends, listen: the bus) and state (in_use, idle); as of the last scrape.",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
DB_CONNECTIONS_MAX = Gauge(
    "sessiongraph_db_connections_max",
    "Most PostgreSQL connections each pool may open; their sum is SESSIONGRAPH_DB_MAX_CONNECTIONS.",
    ["pool"],
    multiprocess_mode="livesum",
)
BUS_DEGRADED = Gauge(
    "sessiongraph_bus_degraded",
    "1 while this process's hint bus cannot reach its broker and live streams poll the "
    "database instead (summed over processes); as of the last scrape.",
    multiprocess_mode="livesum",
)
OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
MAX_OPERATION_NAMES = 200  # per process
_operation_names: set[str] = set()


def count_operation(kind: str, name: str | None, ok: bool) -> None:
    """Clients choose operation names: the label keeps to a bounded set of well-formed ones."""
    if not name:
        label = "anonymous"
    elif not OPERATION_NAME.fullmatch(name):
        label = "invalid"
    elif name in _operation_names or len(_operation_names) < MAX_OPERATION_NAMES:
        _operation_names.add(name)
        label = name
    else:
        label = "other"
    OPERATIONS.labels(kind, label, "ok" if ok else "error").inc()


def operation_of(
    parse: Callable[[str], DocumentNode], limits: Limits, query: str | None, name: str | None
) -> tuple[str, str | None]:
    """The type and name an operation is counted under: "unknown" for a document over the limits,
    unparsable or without it. `parse` is the pipeline's cache: what ran is not parsed again."""
    try:
        document = None if query is None or size_error(query, limits) else parse(query)
    except GraphQLError:
        document = None
    operation = None if document is None else get_operation_ast(document, name)
    if operation is None:
        return "unknown", name
    return operation.operation.value, name or (operation.name.value if operation.name else None)


class Observed:
    """The one ASGI middleware every request passes: HTTP and WebSocket get a request id; an
    HTTP response echoes it, and is counted, timed and written to the access log."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        token = current_request_id.set(request_id)
        echo = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        try:
            await self.app(scope, receive, sending if kind == "http" else send)
        finally:
            if kind == "http":  # logged while the request id is still set
                self._observe(scope, status, time.perf_counter() - started)
            current_request_id.reset(token)

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        path = getattr(scope.get("route"), "path", None)
        route = path if isinstance(path, str) else "unmatched"
        method = scope["method"]
        key = (route, method, status)
        counted = self._counted.get(key)
        if counted is None:  # metric children looked up once per (route, method, status)
            counted = self._counted[key] = REQUESTS.labels(route, method, str(status))
        counted.inc()
        timed = self._timed.get(route)
        if timed is None:
            timed = self._timed[route] = LATENCY.labels(route)
        timed.observe(elapsed)
        if self.access_log and access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s %.1fms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
                extra={"route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)},
            )


async def metrics_endpoint(request: Request) -> Response:
    """The connection gauges (none on SQLite) and the bus's state are read at the scrape."""
    db = request.app.state.db
    if db.budget is not None:
        for pool in ("orm", "raw", "listen"):
            DB_CONNECTIONS_MAX.labels(pool).set(getattr(db.budget, pool))
        for pool, (in_use, idle) in db.connections().items():
            DB_CONNECTIONS.labels(pool, "in_use").set(in_use)
            DB_CONNECTIONS.labels(pool, "idle").set(idle)
    BUS_DEGRADED.set(1 if db.bus.state != "ok" else 0)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
