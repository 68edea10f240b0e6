"""`/graphql` over HTTP, as the GraphQL-over-HTTP specification describes it; its statuses,
media types and cross-site rules are in docs/graphql-over-http.md."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from graphql import DocumentNode, GraphQLError, get_operation_ast
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.types import ExecutionResult

from db.errors import Unauthenticated
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database
from graph.framework import CannotGetOperationTypeError, InvalidOperationTypeError, OperationType
from graph.http.auth import KeyRequired, PublicPage, principal_of
from graph.http.request import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLParams,
    RequestRefused,
    params_from_body,
    params_from_query_string,
    response_media_type,
)
from graph.ops.metrics import count_operation
from graph.plan.limits import Limits, size_error
from graph.plan.persisted import DocumentNotFound, DocumentRefused, PersistedDocuments
from graph.plan.runner import OperationRunner, is_request_error, response_body
from graph.schema.build import Schema
from graph.schema.context import Context
from graph.schema.errors import door_error_response, with_codes
from graph.settings import MAX_BODY_BYTES

QUERIES_ONLY = (OperationType.QUERY,)
PARSED = "graphql_params"
Parsed = tuple[GraphQLParams | list[GraphQLParams], tuple[OperationType, ...]]
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


class GraphQLEndpoint:
    """The ASGI app behind `KeyRequired` for `/graphql` (GET and POST)."""

    def __init__(
        self,
        schema: Schema,
        *,
        db: Database,
        session_ttl_seconds: int,
        max_body_bytes: int = MAX_BODY_BYTES,
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
        accepted = response_media_type(request.headers.get("accept"))
        media_type = accepted or JSON
        try:
            if accepted is None:
                raise RequestRefused(
                    406,
                    f"this endpoint answers with {GRAPHQL_RESPONSE} or {JSON}; Accept allows "
                    "neither",
                )
            response = await self._respond(request, media_type)
        except ClientDisconnect:
            return  # the client left before sending its whole body: nobody to answer
        except RequestRefused as refused:
            error = {"message": refused.message, "extensions": {"code": refused.code}}
            response = Response(
                orjson.dumps({"errors": [error]}),
                status_code=refused.status,
                headers=refused.headers,
                media_type=media_type,
            )
        await response(scope, receive, send)

    async def folded(self, request: Request, key_hash: str) -> tuple[Principal, ASGIApp] | None:
        """A planned read with the key check in its statement (see `KeyRequired`); None for
        anything else, which then takes the usual path and gets its usual answer."""
        media_type = response_media_type(request.headers.get("accept"))
        if media_type is None:
            return None
        try:
            params, _ = await self._params(request)
            if isinstance(params, list):
                return None
            query = self.documents.resolve(params.query, params.extensions, params.document_id)
        except (RequestRefused, ClientDisconnect, DocumentNotFound, DocumentRefused):
            return None
        found = self.runner.plan_of(query, params.variables, params.operation_name)
        if found is None:
            return None
        try:
            async with asyncio.timeout(self.schema.limits.timeout_seconds):
                answered = await read_sql.read_as(self.db, key_hash, *found)
        except TimeoutError:
            return None  # the usual path reports the timeout
        if answered is None:
            return None
        principal, text = answered
        operation = self._operation_of(query, params.operation_name)
        response = Response(b'{"data":' + text.encode() + b"}", media_type=media_type)

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            count_operation(*operation, ok=True)  # only when sent: not when answered 429
            await response(scope, receive, send)

        return principal, counted

    async def _respond(self, request: Request, media_type: str) -> Response:
        params, allowed = await self._params(request)
        context = Context(
            db=self.db,
            principal=principal_of(request.scope),
            session_ttl_seconds=self.session_ttl_seconds,
        )
        if isinstance(params, list):
            bodies = [(await self._answer(one, context, allowed))[0] for one in params]
            return Response(b"[" + b",".join(bodies) + b"]", media_type=media_type)
        body, request_error = await self._answer(params, context, allowed)
        status = 400 if media_type == GRAPHQL_RESPONSE and request_error else 200
        return Response(body, status_code=status, media_type=media_type)

    async def _params(self, request: Request) -> Parsed:
        """The request's parameters, read once: a request the fold declined was read there."""
        state = request.scope.setdefault("state", {})
        parsed: Parsed | None = state.pop(PARSED, None)
        if parsed is None:
            parsed = state[PARSED] = await self._read_params(request)
        return parsed

    async def _read_params(self, request: Request) -> Parsed:
        if request.method == "GET":
            return params_from_query_string(request), QUERIES_ONLY
        if request.method == "POST":
            limit, most = self.max_body_bytes, self.schema.limits.max_operations
            return await params_from_body(request, limit, max_operations=most), ALL_OPERATIONS
        raise RequestRefused(405, f"{request.method} is not allowed", {"Allow": "GET, POST"})

    async def _answer(
        self, params: GraphQLParams, context: Context, allowed: tuple[OperationType, ...]
    ) -> tuple[bytes, bool]:
        """The response body, and whether it is a request error (no `data`)."""
        query, result = params.query, None
        try:
            query = self.documents.resolve(params.query, params.extensions, params.document_id)
            result = await self._result(query, params, context, allowed)
        except DocumentNotFound as missing:
            result = ExecutionResult(data=None, errors=[missing.error()])
        except DocumentRefused as refused:
            raise RequestRefused(refused.status, refused.message, code=refused.code) from None
        finally:  # counted however it ends, a refusal included
            ok = isinstance(result, bytes) or (result is not None and not result.errors)
            count_operation(*self._operation_of(query, params.operation_name), ok)
        if isinstance(result, bytes):
            return result, False
        return orjson.dumps(response_body(result)), is_request_error(result)

    async def _result(
        self,
        query: str,
        params: GraphQLParams,
        context: Context,
        allowed: tuple[OperationType, ...],
    ) -> bytes | ExecutionResult:
        variables, name = params.variables, params.operation_name
        planned = await self.runner.planned(query, variables, context, name)
        if planned is not None:
            return planned
        try:
            return await self.runner.execute(query, variables, context, name, allowed)
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

    def _operation_of(self, query: str | None, name: str | None) -> tuple[str, str | None]:
        return operation_of(self.runner.parse, self.schema.limits, query, name)


def operation_of(
    parse: Callable[[str], DocumentNode], limits: Limits, query: str | None, name: str | None
) -> tuple[str, str | None]:
    """The type and name an operation is counted under: "unknown" for a document over the
    limits (never parsed), that does not parse or lacks the operation. `parse` is the
    pipeline's cached one, so a document that ran is not parsed again."""
    try:
        document = None if query is None or size_error(query, limits) else parse(query)
    except GraphQLError:
        document = None
    operation = None if document is None else get_operation_ast(document, name)
    if operation is None:
        return "unknown", name
    return operation.operation.value, name or (operation.name.value if operation.name else None)


def unauthenticated_response(error: Unauthenticated) -> Response:
    """A GraphQL-shaped 401, so GraphQL clients show the reason like any other error."""
    return door_error_response(error, rest=False, headers={"WWW-Authenticate": "Bearer"})


def graphql_endpoint(endpoint: GraphQLEndpoint, *, ide: PublicPage | None) -> KeyRequired:
    """`ide` answers a browser's request for the GraphiQL page, which needs no key."""
    return KeyRequired(
        endpoint,
        endpoint.db,
        refuse=unauthenticated_response,
        public=ide,
        folded=endpoint.folded if endpoint.runner.enabled else None,
    )
