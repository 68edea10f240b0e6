"""`/graphql` over HTTP: Strawberry's view behind our key check, with orjson encoding."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from db.engine import Database
from db.errors import Unauthenticated
from graph.auth import principal_from_header
from graph.context import Context
from graph.jsonio import JSONResponse


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context: the principal is resolved before it runs."""

    def __init__(self, schema: Any, *, db: Database, session_ttl_seconds: int, ide: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if ide else None)
        self.db = db
        self.session_ttl_seconds = session_ttl_seconds

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(
            db=self.db,
            principal=request.scope["state"]["principal"],
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


class KeyRequired:
    """Every request needs a valid key, except a browser fetching the GraphiQL page."""

    def __init__(self, view: GraphQLView, db: Database) -> None:
        self.view = view
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self.view.graphql_ide and _wants_ide_page(request):
            await (await self.view.render_graphql_ide(request))(scope, receive, send)
            return
        try:
            principal = await principal_from_header(self.db, request.headers.get("authorization"))
        except Unauthenticated as error:
            await unauthenticated_response(error)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.view(scope, receive, send)


def _wants_ide_page(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
