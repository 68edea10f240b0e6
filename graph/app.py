"""`create_app(settings)`: the Starlette application, wired once from one settings object."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route, WebSocketRoute

from db.live.expiry import ExpirySweeper
from db.live.feeds import feeds_of
from db.store.engine import Database
from graph.http.graphiql import asset_routes, ide_page, monitor
from graph.http.graphql import GraphQLEndpoint, graphql_endpoint
from graph.live.sse import STREAM_PATH, EventStreams, event_stream_endpoint
from graph.live.websocket import GraphQLWebSocket
from graph.ops.health import healthz, readyz
from graph.ops.logs import configure_logging
from graph.ops.metrics import Observed, metrics_endpoint
from graph.plan.limits import Limits
from graph.plan.persisted import persisted_documents
from graph.rest.openapi import docs_routes
from graph.rest.routing import rest_api_routes
from graph.schema.build import build_schema
from graph.settings import Settings

log = logging.getLogger("sessiongraph")


def open_database(settings: Settings) -> Database:
    if settings.db_pool_size is not None and settings.db_max_connections is None:
        log.warning(
            "SESSIONGRAPH_DB_POOL_SIZE is deprecated: set SESSIONGRAPH_DB_MAX_CONNECTIONS "
            "(now %d, all of a process's PostgreSQL connections)",
            settings.db_connection_budget,
        )
    return Database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        max_connections=settings.db_connection_budget,
        listen_url=settings.listen_database_url,
        bus_url=settings.bus_url,
        bus_poll_seconds=settings.bus_poll_seconds,
    )


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Starlette:
    settings = settings or Settings()
    db = database or open_database(settings)
    production = settings.env == "production"
    schema = build_schema(
        production=production,
        limits=Limits.from_settings(settings),
        federation=settings.federation,
    )
    documents = persisted_documents(settings)
    endpoint = GraphQLEndpoint(
        schema,
        db=db,
        session_ttl_seconds=settings.session_ttl_seconds,
        max_body_bytes=settings.graphql_max_body_bytes,
        documents=documents,
    )
    routes: list[BaseRoute] = []
    ide = None
    if not production:
        if settings.graphiql_assets == "local":
            folder = settings.graphiql_assets_dir
            routes.extend(asset_routes(Path(folder) if folder else None))
        ide = ide_page(source=settings.graphiql_assets)
    sockets = GraphQLWebSocket(
        schema, settings, db=db, documents=documents, parse=endpoint.runner.parse
    )
    streams = EventStreams(db, keepalive_seconds=settings.ws_keepalive_seconds)
    sweeper = ExpirySweeper(
        db,
        interval=settings.expiry_sweep_seconds,
        retention=timedelta(seconds=settings.expired_retention_seconds),
    )

    async def drain() -> None:
        """Before the server stops: sockets close with 1001, SSE streams end cleanly."""
        streams.stop_all()
        await sockets.close_all()
        await asyncio.sleep(0)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await db.bus.start()
        feeds_of(db)  # listening before the first subscriber, so no hint is missed
        sweeper.start()
        try:
            yield
        finally:
            await drain()
            await sweeper.stop()
            feeds_of(db).close()
            await db.bus.stop()
            if database is None:
                await db.dispose()

    app = Starlette(
        routes=[
            *routes,
            Route("/graphql", graphql_endpoint(endpoint, ide=ide), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", sockets),
            Route(STREAM_PATH, event_stream_endpoint(streams), methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/monitor", monitor, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            *docs_routes(),
            *rest_api_routes(settings, db),
        ],
        middleware=[Middleware(Observed, access_log=settings.access_log)],
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.sockets = sockets
    app.state.streams = streams
    app.state.sweeper = sweeper
    app.state.drain = drain
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers: each process reads the same environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    tune_collector()
    return app


def tune_collector() -> None:
    """Rare full collections over a small heap: default thresholds paused 1,000 WebSockets'
    subscribers 60-290 ms every second or so (docs/decisions.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
