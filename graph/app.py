"""`create_app(settings)`: the Starlette application, wired once from one settings object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.engine import Database
from graph.graphql_http import GraphQLEndpoint, graphql_endpoint
from graph.jsonio import JSONResponse
from graph.schema import build_schema
from graph.settings import Settings


def open_database(settings: Settings) -> Database:
    return Database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.db_pool_size,
    )


async def healthz(_: Request) -> Response:
    """Alive means the process answers; it deliberately does not touch the database."""
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Starlette:
    settings = settings or Settings()
    db = database or open_database(settings)
    production = settings.env == "production"
    endpoint = GraphQLEndpoint(
        build_schema(production=production),
        db=db,
        session_ttl_seconds=settings.session_ttl_seconds,
        ide=not production,
        max_body_bytes=settings.graphql_max_body_bytes,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if database is None:
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint(endpoint), methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers: each process reads the same environment."""
    return create_app(Settings())
