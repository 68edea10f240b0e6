"""`/graphql` over HTTP, as the GraphQL-over-HTTP specification describes it.

- The response media type follows `Accept`: `application/graphql-response+json` when the
  client names it, else `application/json` (also for a missing Accept or `*/*`); 406 when
  it accepts neither.
- A request that is not a well-formed GraphQL request is 400; a body over the size limit
  413; a POST body that is not `application/json` 415; a mutation over GET 405 with
  `Allow: POST`.
- Under `application/graphql-response+json`, a request that fails before execution
  (syntax, validation, variable coercion) is 400 without a `data` entry; under
  `application/json` it is 200, for clients of the legacy watershed.
- A request may name a persisted document instead of sending it (graph/persisted.py):
  an unknown one is a request error `PersistedQueryNotFound`, so the status follows the
  rule above (Apollo Client and urql retry with the full text either way); a request the
  store refuses (hash mismatch, version, untrusted document) is 400.
- CSRF: a page on another site can make a browser send only "simple" requests without a
  CORS preflight: GET, or POST with a form or `text/plain` body. GET never runs mutations
  and POST demands `application/json`, so no state can be changed cross-site; and keys
  travel in `Authorization`, which a browser adds to no cross-site request by itself.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from db.engine import Database
from db.errors import Unauthenticated
from graph.auth import KeyRequired, PublicPage, principal_of
from graph.context import Context
from graph.errors import with_codes
from graph.fast.runner import OperationRunner
from graph.http_request import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLParams,
    RequestRefused,
    params_from_body,
    params_from_query_string,
    response_media_type,
)
from graph.jsonio import JSONResponse
from graph.persisted import DocumentNotFound, DocumentRefused, PersistedDocuments
from graph.schema import Schema
from graph.settings import MAX_BODY_BYTES

DEFAULT_MAX_BODY_BYTES = MAX_BODY_BYTES
QUERIES_ONLY = (OperationType.QUERY,)
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


def is_request_error(result: ExecutionResult) -> bool:
    """Failed before execution: no data, and no error that belongs to a field (has a path)."""
    return (
        result.data is None and bool(result.errors) and all(not e.path for e in result.errors or ())
    )


def response_body(result: ExecutionResult) -> dict[str, Any]:
    """The GraphQL response map: `data` (absent for request errors), `errors`, `extensions`."""
    body: dict[str, Any] = {}
    if not is_request_error(result):
        body["data"] = result.data
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return body


def refusal_body(message: str, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class GraphQLEndpoint:
    """The ASGI app behind `KeyRequired` for `/graphql` (GET and POST)."""

    def __init__(
        self,
        schema: Schema,
        *,
        db: Database,
        session_ttl_seconds: int,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        documents: PersistedDocuments | None = None,
    ) -> None:
        self.schema = schema
        self.documents = documents or PersistedDocuments()
        self.db = db
        self.session_ttl_seconds = session_ttl_seconds
        self.max_body_bytes = max_body_bytes
        self.runner = OperationRunner(schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        media_type = response_media_type(request.headers.get("accept")) or JSON
        try:
            response = await self._respond(request, media_type)
        except ClientDisconnect:
            return  # the client left before sending its whole body: nobody to answer
        except RequestRefused as refused:
            response = Response(
                orjson.dumps(refusal_body(refused.message, refused.code)),
                status_code=refused.status,
                headers=refused.headers,
                media_type=media_type,
            )
        await response(scope, receive, send)

    async def _respond(self, request: Request, media_type: str) -> Response:
        if response_media_type(request.headers.get("accept")) is None:
            raise RequestRefused(
                406,
                f"this endpoint answers with {GRAPHQL_RESPONSE} or {JSON}; Accept allows neither",
            )
        params, allowed = await self._params(request)
        context = Context(
            db=self.db,
            principal=principal_of(request.scope),
            session_ttl_seconds=self.session_ttl_seconds,
        )
        if isinstance(params, list):
            results = [await self._execute(one, context, allowed) for one in params]
            body = [response_body(result) for result in results]
            return Response(orjson.dumps(body), media_type=media_type)
        result = await self._execute(params, context, allowed)
        status = 200
        if media_type == GRAPHQL_RESPONSE and is_request_error(result):
            status = 400
        return Response(
            orjson.dumps(response_body(result)), status_code=status, media_type=media_type
        )

    async def _params(
        self, request: Request
    ) -> tuple[GraphQLParams | list[GraphQLParams], tuple[OperationType, ...]]:
        if request.method == "GET":
            return params_from_query_string(request), QUERIES_ONLY
        if request.method == "POST":
            params = await params_from_body(
                request, self.max_body_bytes, max_operations=self.schema.limits.max_operations
            )
            return params, ALL_OPERATIONS
        raise RequestRefused(405, f"{request.method} is not allowed", {"Allow": "GET, POST"})

    async def _execute(
        self, params: GraphQLParams, context: Context, allowed: tuple[OperationType, ...]
    ) -> ExecutionResult:
        try:
            query = self.documents.resolve(params.query, params.extensions, params.document_id)
        except DocumentNotFound as missing:
            return ExecutionResult(data=None, errors=[missing.error()])
        except DocumentRefused as refused:
            raise RequestRefused(refused.status, refused.message, code=refused.code) from None
        try:
            return await self.runner.execute(
                query, params.variables, context, params.operation_name, allowed
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.MUTATION:
                raise RequestRefused(
                    405, "mutations are not allowed over GET; use POST", {"Allow": "POST"}
                ) from None
            raise RequestRefused(400, error.as_http_error_reason("this method")) from None
        except MissingQueryError:
            raise RequestRefused(400, "the request needs a 'query' string") from None
        except CannotGetOperationTypeError as error:
            failed = ExecutionResult(data=None, errors=[GraphQLError(error.as_http_error_reason())])
            return with_codes(failed, production=self.schema.production)


def unauthenticated_response(error: Unauthenticated) -> Response:
    """A GraphQL-shaped 401, so GraphQL clients show the reason like any other error."""
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def graphql_endpoint(endpoint: GraphQLEndpoint, *, ide: PublicPage | None) -> KeyRequired:
    """`ide` answers a browser's request for the GraphiQL page, which needs no key."""
    return KeyRequired(endpoint, endpoint.db, refuse=unauthenticated_response, public=ide)
