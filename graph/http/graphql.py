"""`/graphql` over HTTP, as the GraphQL-over-HTTP specification describes it; its statuses,
media types and cross-site rules are in docs/graphql-over-http.md."""

import asyncio

import orjson
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.types import ExecutionResult

from db.records import Principal
from db.store import read_sql
from db.store.engine import Database
from graph.framework import CannotGetOperationTypeError, InvalidOperationTypeError, OperationType
from graph.http.auth import KeyRequired, PublicPage, principal_of
from graph.http.jsonio import JSONResponse
from graph.http.request import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLParams,
    RequestRefused,
    params_from_body,
    params_from_query_string,
    response_media_type,
)
from graph.ops.metrics import count_operation, operation_of
from graph.plan.persisted import DocumentNotFound, DocumentRefused, PersistedDocuments
from graph.plan.runner import OperationRunner, is_request_error, response_body
from graph.schema.build import Schema
from graph.schema.context import Context
from graph.schema.errors import with_codes

QUERIES_ONLY = (OperationType.QUERY,)
PARSED = "graphql_params"
Parsed = tuple[GraphQLParams | list[GraphQLParams], tuple[OperationType, ...]]
ALL_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


class GraphQLEndpoint:
    def __init__(
        self,
        schema: Schema,
        *,
        db: Database,
        session_ttl_seconds: int,
        max_body_bytes: int,
        documents: PersistedDocuments,
    ) -> None:
        self.schema = schema
        self.documents = documents
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
            params, allowed = await self._params(request)
            context = Context(self.db, principal_of(scope), self.session_ttl_seconds)
            if isinstance(params, list):
                bodies = [(await self._answer(one, context, allowed))[0] for one in params]
                response = Response(b"[" + b",".join(bodies) + b"]", media_type=media_type)
            else:
                body, request_error = await self._answer(params, context, allowed)
                status = 400 if media_type == GRAPHQL_RESPONSE and request_error else 200
                response = Response(body, status_code=status, media_type=media_type)
        except ClientDisconnect:
            return  # the client left before sending its whole body: nobody to answer
        except RequestRefused as refused:
            errors = [{"message": refused.message, "extensions": {"code": refused.code}}]
            response = JSONResponse({"errors": errors}, refused.status, refused.headers, media_type)
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
        operation = self._operation_of(query, params.operation_name)
        response = Response(b'{"data":' + answered[1].encode() + b"}", media_type=media_type)

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            count_operation(*operation, ok=True)  # once sent: not when refused with 429
            await response(scope, receive, send)

        return answered[0], counted

    async def _params(self, request: Request) -> Parsed:
        """The request's parameters, read once: a request the fold declined was read there."""
        state = request.scope.setdefault("state", {})
        parsed: Parsed | None = state.pop(PARSED, None)
        if parsed is not None:
            return parsed
        if request.method == "GET":
            parsed = params_from_query_string(request), QUERIES_ONLY
        elif request.method == "POST":
            limit, most = self.max_body_bytes, self.schema.limits.max_operations
            parsed = await params_from_body(request, limit, max_operations=most), ALL_OPERATIONS
        else:
            raise RequestRefused(405, f"{request.method} is not allowed", {"Allow": "GET, POST"})
        state[PARSED] = parsed
        return parsed

    async def _answer(
        self, params: GraphQLParams, context: Context, allowed: tuple[OperationType, ...]
    ) -> tuple[bytes, bool]:
        """The response body, and whether it is a request error (no `data`)."""
        variables, name = params.variables, params.operation_name
        query, result = params.query, None
        try:
            query = self.documents.resolve(params.query, params.extensions, params.document_id)
            result = await self.runner.planned(query, variables, context, name)
            result = result or await self.runner.execute(query, variables, context, name, allowed)
        except DocumentNotFound as missing:
            result = ExecutionResult(data=None, errors=[missing.error()])
        except DocumentRefused as refused:
            raise RequestRefused(400, str(refused), code=refused.code) from None
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
            result = with_codes(failed, production=self.schema.production)
        finally:  # counted however it ends, a refusal included
            ok = isinstance(result, bytes) or (result is not None and not result.errors)
            count_operation(*self._operation_of(query, name), ok)
        if isinstance(result, bytes):
            return result, False
        return orjson.dumps(response_body(result)), is_request_error(result)

    def _operation_of(self, query: str | None, name: str | None) -> tuple[str, str | None]:
        return operation_of(self.runner.parse, self.schema.limits, query, name)


def graphql_endpoint(endpoint: GraphQLEndpoint, *, ide: PublicPage | None) -> KeyRequired:
    """`ide` answers a browser's request for the GraphiQL page, which needs no key."""
    return KeyRequired(
        endpoint,
        endpoint.db,
        public=ide,
        folded=endpoint.folded if endpoint.runner.enabled else None,
    )
