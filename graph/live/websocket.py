"""`/graphql` over WebSocket: graphql-transport-ws and legacy graphql-ws, on Strawberry's handlers.
Added alike on both: the API key from `connection_init` or the upgrade request; 4400 with a
reason for a malformed message or frame and for a document that does not parse or names an
unknown operation; 4403 once the key is revoked; 1001 at shutdown. A database outage is not
a bad key: 1013 at `connection_init`, SERVICE_UNAVAILABLE for an operation."""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from datetime import timedelta
from functools import partial
from typing import Any, cast

import orjson
from graphql import DocumentNode
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry import UNSET
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.dataloader import DataLoader
from strawberry.exceptions import ConnectionRejectionError

from db.errors import Unauthenticated
from db.keys import REVOKED_MESSAGE, authenticate, key_watch_of
from db.records import EventRecord, Principal
from db.store.engine import Database
from graph.framework import (
    BaseGraphQLTransportWSHandler,
    BaseGraphQLWSHandler,
    NonJsonMessageReceived,
    NonTextMessageReceived,
    PreExecutionError,
    UnsetType,
    WebSocketDisconnected,
    pre_execution_close_reason,
)
from graph.http.auth import admit, key_from_header, refusal
from graph.live.fanout import (
    legacy_prefix,
    open_lane,
    results_untouched_by_extensions,
    transport_prefix,
)
from graph.ops.metrics import OPEN_SUBSCRIPTIONS, count_operation, operation_of
from graph.plan.persisted import PersistedDocuments
from graph.schema.context import EventKey, load_events
from graph.schema.errors import (
    ServiceUnavailable,
    graphql_error_body,
    log_unavailable,
    unavailable,
)
from graph.settings import Settings

GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
BAD_REQUEST = 4400
MAX_CLOSE_REASON_BYTES = 123
NOT_TEXT = "WebSocket message type must be text"  # Strawberry's reasons on graphql-transport-ws
NOT_JSON = "WebSocket message must be valid JSON"
REVOKED = f"Forbidden: {REVOKED_MESSAGE}"
MAX_FRAME_DEPTH = 1024  # orjson's limit on nested objects and arrays
TOO_DEEP = f"WebSocket message nests objects and arrays more than {MAX_FRAME_DEPTH} levels deep"
# What each client message carries, per protocol's PROTOCOL.md (see `message_problem`).
TRANSPORT_MESSAGES = {
    "connection_init": "payload",
    "ping": "payload",
    "pong": "payload",
    "complete": "id",
    "subscribe": "operation",
}
LEGACY_MESSAGES = {
    "connection_init": "payload",
    "connection_terminate": "",
    "start": "operation",
    "stop": "id",
}


class SocketContext:
    """One connection's context; `principal` is set at `connection_init`. DataLoaders do not
    cache: a connection lives for hours and each subscription event must read fresh rows."""

    principal: Principal

    def __init__(self, db: Database, session_ttl_seconds: int, websocket: WebSocket) -> None:
        self.db = db
        self.session_ttl_seconds = session_ttl_seconds
        self.websocket = websocket
        self.connection_params: dict[str, Any] | None = None
        self.key: str | None = None  # so each new operation can re-check it
        self.stop_watching: Callable[[], None] = lambda: None
        self.events: DataLoader[EventKey, list[EventRecord]] = DataLoader(
            load_fn=partial(load_events, db), cache=False
        )

    async def admit_operation(
        self, operation_id: str, running: Mapping[str, object], limit: int | None
    ) -> dict[str, Any] | None:
        """None when a new operation may start (spending one request of the organisation's
        budget), else the GraphQL error that answers it; `Unauthenticated` once the key fails."""
        if limit is not None and operation_id not in running and len(running) >= limit:
            return {
                "message": f"at most {limit} operations may run at once on one connection",
                "extensions": {"code": "RATE_LIMITED", "reason": "MAX_SUBSCRIPTIONS"},
            }
        try:
            self.principal = await authenticate(self.db, self.key)
            decision = await admit(self.db, self.principal)
        except Exception as error:
            down = None if isinstance(error, Unauthenticated) else unavailable(error)
            if down is None:
                raise
            log_unavailable(error, "a WebSocket operation's key check")
            return graphql_error_body(down)
        return None if decision.allowed else graphql_error_body(refusal(decision))

    async def close_revoked(self) -> None:  # `KeyWatch` calls it
        with contextlib.suppress(Exception):
            await self.websocket.close(4403, REVOKED)


def key_from_params(params: Mapping[str, Any] | None) -> str | None:
    """`{"Authorization": "Bearer <key>"}` (any case), or the same inside `"headers"`."""
    if not params:
        return None
    for scope in (params, params.get("headers")):
        if isinstance(scope, Mapping):
            for name, value in scope.items():
                if isinstance(name, str) and name.lower() == "authorization":
                    return value if isinstance(value, str) else None
    return None


def _is_object_or_null(value: object) -> bool:
    return value is None or isinstance(value, dict)


def message_problem(message: object, shapes: Mapping[str, str]) -> str | None:
    """Why a client message breaks its protocol (`shapes`), or None when it is well formed."""
    if not isinstance(message, dict):
        return "message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "message type must be a string"
    shape = shapes.get(kind)
    if shape is None:
        return f"unknown message type {kind!r}"
    if shape == "payload" and not _is_object_or_null(message.get("payload")):
        return f"{kind} payload must be an object or null"
    if shape == "id" and not isinstance(message.get("id"), str):
        return f"{kind} needs a string id"
    if shape != "operation":
        return None
    # `subscribe` (graphql-transport-ws) and `start` (legacy) carry the same request.
    if not isinstance(message.get("id"), str) or not message["id"]:
        return f"{kind} needs a non-empty string id"
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return f"{kind} payload must be an object with a string query"
    if not (payload.get("operationName") is None or isinstance(payload["operationName"], str)):
        return "operationName must be a string or null"
    for name in ("variables", "extensions"):
        if not _is_object_or_null(payload.get(name)):
            return f"{name} must be an object or null"
    return None


class _Screening:
    """What both handlers add to Strawberry's: each client message screened first (answered
    here when it is a refused persisted document, malformed, from a revoked key or a refused
    operation), and 1013 for a database outage at `connection_init`."""

    async def handle_message(self, message: Any) -> None:
        handler = cast("TransportWSHandler | LegacyWSHandler", self)
        if handler.connection_acknowledged:  # before that, Strawberry closes with 4401
            documents = cast("GraphQLWebSocket", handler.view).documents
            message, refused = documents.message(message, handler.OPERATION)
            if refused is not None:
                await handler.websocket.send_json(handler.error(message["id"], refused))
                return
        problem = message_problem(message, handler.MESSAGES)
        if problem is not None:
            await handler.handle_invalid_message(problem)
            return
        if message["type"] == handler.OPERATION and handler.connection_acknowledged:
            running = handler.tasks if isinstance(handler, LegacyWSHandler) else handler.operations
            try:
                error = await handler.context.admit_operation(
                    message["id"], running, handler.max_subscriptions_per_connection
                )
            except Unauthenticated:
                await handler.websocket.close(code=4403, reason=REVOKED)
                return
            if error is not None:
                await handler.websocket.send_json(handler.error(message["id"], error))
                return
            if cast("GraphQLWebSocket", handler.view).shared_writes:
                # The operation's task, which Strawberry creates as it handles this message,
                # inherits the lane.
                adapter = cast("SocketAdapter", handler.websocket)
                open_lane(adapter.send_text, handler.prefix(message["id"]))
        if message["type"] == "connection_init" and message.get("payload") is None:
            message = {**message, "payload": {}}  # PROTOCOL.md allows null
        await super().handle_message(message)  # type: ignore[misc]

    async def handle_connection_init(self, message: Any) -> None:
        handler = cast("TransportWSHandler | LegacyWSHandler", self)
        try:
            await super().handle_connection_init(message)  # type: ignore[misc]
        except ServiceUnavailable as outage:
            if isinstance(handler, LegacyWSHandler):
                payload = graphql_error_body(outage)
                await handler.send_message({"type": "connection_error", "payload": payload})
            await handler.websocket.close(code=TRY_AGAIN_LATER, reason=outage.message)


class TransportWSHandler(_Screening, BaseGraphQLTransportWSHandler[SocketContext, None]):
    OPERATION = "subscribe"
    MESSAGES = TRANSPORT_MESSAGES
    prefix = staticmethod(transport_prefix)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _Operations(self)  # type: ignore[assignment]

    @staticmethod
    def error(operation_id: str, error: object) -> dict[str, Any]:
        return {"id": operation_id, "type": "error", "payload": [error]}

    async def handle_task_exception(self, error: Exception) -> None:
        if not isinstance(error, WebSocketDisconnected):
            await super().handle_task_exception(error)


class _Operations:
    """The schema as the handlers run it: each operation counted as it ends, a subscription
    in the gauge while it runs. With `refuse` (legacy `start`, queries and mutations too), a
    document that does not parse or names no operation of its own closes with 4400, as on
    graphql-transport-ws (Strawberry's legacy handler would answer `error`)."""

    def __init__(
        self, handler: Any, refuse: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        self.schema = handler.schema
        self.parse = cast("GraphQLWebSocket", handler.view).parse
        self.refuse = refuse

    async def stream(self, query: str, **kwargs: Any) -> AsyncGenerator[Any, None]:
        name = kwargs.get("operation_name")
        kind, name = operation_of(self.parse, self.schema.limits, query, name)
        return self._counted(await self.schema.stream(query, **kwargs), kind, name)

    subscribe = stream  # the legacy handler's name for it

    async def _counted(self, source: Any, kind: str, name: str | None) -> AsyncGenerator[Any, None]:
        ok = first = True
        if kind == "subscription":
            OPEN_SUBSCRIPTIONS.inc()
        try:
            async with aclosing(source):
                async for result in source:
                    ok = ok and not result.errors
                    refused = first and isinstance(result, PreExecutionError) and result.errors
                    if refused and self.refuse is not None:
                        reason = pre_execution_close_reason(result.errors[0])
                        if reason is not None:
                            await self.refuse(reason)
                            return
                    first = False
                    yield result
        except Exception:
            ok = False
            raise
        finally:
            if kind == "subscription":
                OPEN_SUBSCRIPTIONS.dec()
            count_operation(kind, name, ok)


class LegacyWSHandler(_Screening, BaseGraphQLWSHandler[SocketContext, None]):
    """Strawberry's legacy handler, as strict as graphql-transport-ws, with its 4408 too."""

    OPERATION = "start"
    MESSAGES = LEGACY_MESSAGES
    prefix = staticmethod(legacy_prefix)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _Operations(self, self.handle_invalid_message)  # type: ignore[assignment]
        self.init_deadline = asyncio.create_task(self._init_deadline())

    @staticmethod
    def error(operation_id: str, error: object) -> dict[str, Any]:
        return {"type": "error", "id": operation_id, "payload": error}

    async def handle_invalid_message(self, reason: str) -> None:
        await self.websocket.close(code=BAD_REQUEST, reason=reason)

    async def send_message(self, message: Any) -> None:
        if not cast("SocketAdapter", self.websocket).refused:
            await super().send_message(message)

    async def cleanup(self) -> None:
        self.init_deadline.cancel()
        await super().cleanup()

    async def _init_deadline(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")


class SocketAdapter(ASGIWebSocketAdapter):
    """Sending after the socket closed (e.g. at shutdown) is a disconnect, not a crash."""

    refused = False  # closed with 4400: what a legacy task would still send goes nowhere

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        """A frame that is not JSON text closes with 4400 and why, on both protocols (Strawberry's
        legacy handler would ignore non-JSON and close a binary one with 1002)."""
        try:
            async for message in super().iter_json():
                yield message
        except NonTextMessageReceived:
            await self.close(BAD_REQUEST, NOT_TEXT)
        except NonJsonMessageReceived as error:
            reason = str(error.__cause__)  # orjson's, from `decode_json`
            too_deep = "depth" in reason or "recursion" in reason.lower()
            await self.close(BAD_REQUEST, TOO_DEEP if too_deep else NOT_JSON)

    async def send_text(self, text: str) -> None:
        """A message already encoded (shared fan-out writes), with `send_json`'s errors."""
        try:
            await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError) as error:
            raise WebSocketDisconnected from error

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.send_text(cast("str", self.view.encode_json(message)))

    async def close(self, code: int, reason: str) -> None:
        """The reason, which may quote the client, is cut to the 123 bytes a close frame carries
        (RFC 6455, 5.5): a longer one would drop the connection without a code."""
        self.refused = self.refused or code == BAD_REQUEST
        encoded = reason.encode()
        if len(encoded) > MAX_CLOSE_REASON_BYTES:
            reason = encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."
        with contextlib.suppress(RuntimeError):
            await super().close(code, reason)


class GraphQLWebSocket(GraphQL[SocketContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = SocketAdapter

    def __init__(
        self,
        schema: Any,
        settings: Settings,
        *,
        db: Database,
        documents: PersistedDocuments,
        parse: Callable[[str], DocumentNode],
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,  # legacy `ka` messages, which its clients expect
            keep_alive_interval=settings.ws_keepalive_seconds,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            # Keys travel in `connection_init` or an Authorization header, never in
            # cookies, so a page on another origin gains nothing a script could not.
            allowed_origins=["*"],
        )
        self.db = db
        self.session_ttl_seconds = settings.session_ttl_seconds
        self.documents = documents
        self.revocations = key_watch_of(db, settings.ws_revocation_check_seconds)  # SSE shares it
        self.shared_writes = settings.ws_shared_writes and results_untouched_by_extensions(
            schema.get_extensions()
        )
        self.sockets: dict[WebSocket, SocketContext | None] = {}
        self.closing = False
        self.parse = parse

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        """orjson stops at `MAX_FRAME_DEPTH` levels where the standard library would exhaust
        Python's recursion limit (no close frame)."""
        return orjson.loads(data)

    async def get_context(self, request: Any, response: Any) -> SocketContext:
        context = self.sockets[request] = SocketContext(self.db, self.session_ttl_seconds, request)
        return context

    async def on_ws_connect(self, context: SocketContext) -> UnsetType | dict[str, object] | None:
        """The key from the init payload, else the upgrade request; 4403 when bad, 1013 (which
        a client that gives up on a refused key retries) when the database cannot check it."""
        value = key_from_params(context.connection_params)
        context.key = key_from_header(value or context.websocket.headers.get("authorization"))
        try:
            context.principal = await authenticate(self.db, context.key)
        except Unauthenticated as error:
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": {"code": "UNAUTHENTICATED"}}
            ) from error
        except Exception as error:
            down = unavailable(error)
            if down is None:
                raise
            log_unavailable(error, "the WebSocket key check")
            raise down from error
        context.stop_watching()
        context.stop_watching = self.revocations.watch(
            context.principal.key_id, context.close_revoked
        )
        return cast("UnsetType", UNSET)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        if self.closing:
            await websocket.close(GOING_AWAY)
            return
        self.sockets[websocket] = None
        try:
            await self.run(websocket)
        finally:
            context = self.sockets.pop(websocket, None)
            if context is not None:
                context.stop_watching()

    async def close_all(self) -> None:
        """Shutdown: every open socket gets 1001 so clients reconnect elsewhere and resume."""
        self.closing = True
        await self.revocations.stop()
        for websocket in list(self.sockets):
            with contextlib.suppress(Exception):
                await websocket.close(GOING_AWAY, "server shutting down")
