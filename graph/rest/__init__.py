"""The REST shim under `/v1/products/generation/sessions`, its OpenAPI document and docs page.

A thin face over the same `db` operations as GraphQL: see `handlers` for the paths,
`models` for the wire format, `operations` for the list both the router and
`/openapi.json` are built from.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.routing import BaseRoute

from db.store.engine import Database
from graph.rest.docs import docs_routes
from graph.rest.handlers import RestContext
from graph.rest.routing import rest_fallback_route, rest_routes
from graph.settings import Settings


def rest_api_routes(settings: Settings, db: Database) -> list[BaseRoute]:
    """The REST paths, `/openapi.json` and `/docs`; other `/v1` paths are JSON 404s."""
    ctx = RestContext(
        db=db,
        session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        max_body_bytes=settings.rest_max_body_bytes,
        idempotency_retention=timedelta(seconds=settings.idempotency_retention_seconds),
    )
    return [*rest_routes(ctx), *docs_routes(), rest_fallback_route(ctx)]
