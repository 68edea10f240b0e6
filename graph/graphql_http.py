"""`/graphql` over HTTP: Strawberry's view behind the key check, with orjson encoding."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response
from strawberry.asgi import GraphQL

from db.engine import Database
from db.errors import Unauthenticated
from graph.auth import KeyRequired, PublicPage, principal_of
from graph.context import Context
from graph.jsonio import JSONResponse


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context: the principal is resolved before it runs."""

    def __init__(self, schema: Any, *, db: Database, session_ttl_seconds: int) -> None:
        super().__init__(schema, graphql_ide=None)
        self.db = db
        self.session_ttl_seconds = session_ttl_seconds

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(
            db=self.db,
            principal=principal_of(request.scope),
            session_ttl_seconds=self.session_ttl_seconds,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def unauthenticated_response(error: Unauthenticated) -> Response:
    """A GraphQL-shaped 401, so GraphQL clients show the reason like any other error."""
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def graphql_endpoint(view: GraphQLView, *, ide: PublicPage | None) -> KeyRequired:
    return KeyRequired(view, view.db, refuse=unauthenticated_response, public=ide)
