"""`/graphql` over WebSocket: graphql-transport-ws and legacy graphql-ws, on Strawberry's handlers.

Strawberry runs both protocols (init timeout 4408, 4401, 4409, 4429, ping/pong, the
per-connection limit, the legacy init check of CVE-2026-35526). This module adds what
the service needs on top: the API key from the `connection_init` payload or the upgrade
request, a strict check of every message's shape on both protocols (a malformed, non-JSON
or binary frame closes with 4400 and a reason, never a crashed handler or a silently
dropped frame), 4400 for a document that does not parse or names an unknown operation on
both protocols too (validation errors are an `error` message), coded errors, the shared
check that closes a revoked key's sockets with 4403, and a registry of open sockets so
shutdown can close them with 1001.

A database outage is not a bad key: met at `connection_init` it closes with 1013 (Try
Again Later; the legacy protocol sends `connection_error` first), met at `subscribe` /
`start` it answers that operation with a SERVICE_UNAVAILABLE error and the connection
stays open. Frames are decoded with orjson, which refuses nesting past 1024 levels
without recursing: such a frame closes with 4400 and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from datetime import timedelta
from typing import Any, cast

import orjson
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry import UNSET
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.dataloader import DataLoader
from strawberry.exceptions import ConnectionRejectionError

from db.errors import Unauthenticated
from db.events import events_in_windows
from db.keys import REVOKED_MESSAGE, key_watch_of
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
from graph.http.auth import principal_from_header
from graph.http.ratelimit import admit, graphql_error_body, refusal
from graph.live.fanout import (
    legacy_prefix,
    open_lane,
    results_untouched_by_extensions,
    transport_prefix,
)
from graph.plan.persisted import PersistedDocuments
from graph.schema.context import EventKey
from graph.schema.errors import ServiceUnavailable, log_unavailable, unavailable

log = logging.getLogger("sessiongraph.ws")
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
BAD_REQUEST = 4400
MAX_CLOSE_REASON_BYTES = 123
NOT_TEXT = "WebSocket message type must be text"  # Strawberry's reasons on graphql-transport-ws
NOT_JSON = "WebSocket message must be valid JSON"
REVOKED = f"Forbidden: {REVOKED_MESSAGE}"
MAX_FRAME_DEPTH = 1024  # orjson's limit on nested objects and arrays
TOO_DEEP = f"WebSocket message nests objects and arrays more than {MAX_FRAME_DEPTH} levels deep"


class KeyRevoked(Exception):
    """The connection's key no longer works: the socket must close with 4403."""


class DatabaseUnavailable(Exception):
    """The key check at `connection_init` met a database outage: close with 1013, not 4403,
    so a client that gives up on a refused key retries this one."""

    def __init__(self, error: ServiceUnavailable) -> None:
        super().__init__(error.message)
        self.error = error


class FrameTooDeep(json.JSONDecodeError):
    """A frame nested past `MAX_FRAME_DEPTH`: malformed for this server, with its own reason."""


class SocketContext:
    """One connection's context: the principal arrives with `connection_init`.

    DataLoaders do not cache here: a connection lives for hours and each subscription
    event must read fresh rows (batching within one event still applies).
    """

    def __init__(self, db: Database, session_ttl_seconds: int, upgrade_key: str | None) -> None:
        self.db = db
        self.session_ttl_seconds = session_ttl_seconds
        self.upgrade_key = upgrade_key
        self.connection_params: dict[str, Any] | None = None
        self.key: str | None = None  # as sent, so each new operation can re-check it
        self._principal: Principal | None = None
        self.close_revoked: Callable[[], Awaitable[None]] | None = None
        self.stop_watching: Callable[[], None] = _nothing
        self.events: DataLoader[EventKey, list[EventRecord]] = DataLoader(
            load_fn=self._load_events, cache=False
        )

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise Unauthenticated("the connection is not initialised")
        return self._principal

    @principal.setter
    def principal(self, value: Principal) -> None:
        self._principal = value

    async def still_valid(self) -> bool:
        """Whether the connection's key still works (it may have been revoked since init)."""
        try:
            self._principal = await principal_from_header(self.db, self.key)
        except Unauthenticated:
            return False
        return True

    @property
    def key_id(self) -> str | None:
        """The id of the key the connection authenticated with, once it has."""
        return self._principal.key_id if self._principal is not None else None

    async def admit_operation(
        self, operation_id: str, running: Mapping[str, object], limit: int | None
    ) -> dict[str, Any] | None:
        """None when a new operation may start, else the GraphQL error that answers it.

        Raises `KeyRevoked` when the connection's key stopped working (the socket closes).
        Each operation spends one request of the organisation's per-minute budget. A
        database outage in either check refuses only this operation (SERVICE_UNAVAILABLE,
        with `retryAfter`); the connection stays open.
        """
        if limit is not None and operation_id not in running and len(running) >= limit:
            return limit_error(limit)
        try:
            valid = await self.still_valid()
            decision = await admit(self.db, self.principal) if valid else None
        except Exception as error:
            down = unavailable(error)
            if down is None:
                raise
            log_unavailable(error, "a WebSocket operation's key check")
            return graphql_error_body(down)
        if decision is None:
            raise KeyRevoked
        return None if decision.allowed else graphql_error_body(refusal(decision))

    async def _load_events(self, keys: Sequence[EventKey]) -> list[list[EventRecord]]:
        found = await events_in_windows(self.db, keys)
        return [found[key] for key in keys]


def _nothing() -> None:
    return None


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


def _operation_problem(kind: str, message: dict[str, Any]) -> str | None:
    """`subscribe` (graphql-transport-ws) and `start` (legacy) carry the same request."""
    if not isinstance(message.get("id"), str) or not message["id"]:
        return f"{kind} needs a non-empty string id"
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return f"{kind} payload must be an object with a string query"
    if not (payload.get("operationName") is None or isinstance(payload["operationName"], str)):
        return "operationName must be a string or null"
    if not _is_object_or_null(payload.get("variables")):
        return "variables must be an object or null"
    if not _is_object_or_null(payload.get("extensions")):
        return "extensions must be an object or null"
    return None


def _message_type(message: object) -> tuple[str | None, str | None]:
    """The message's type, or why it has none."""
    if not isinstance(message, dict):
        return None, "message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return None, "message type must be a string"
    return kind, None


def transport_message_problem(message: object) -> str | None:
    """Why a graphql-transport-ws message breaks PROTOCOL.md, or None when it is well formed."""
    kind, problem = _message_type(message)
    if kind is None:
        return problem
    body = cast("dict[str, Any]", message)
    if kind in ("connection_init", "ping", "pong"):
        if not _is_object_or_null(body.get("payload")):
            return f"{kind} payload must be an object or null"
        return None
    if kind == "complete":
        return None if isinstance(body.get("id"), str) else "complete needs a string id"
    if kind == "subscribe":
        return _operation_problem(kind, body)
    return f"unknown message type {kind!r}"


def legacy_message_problem(message: object) -> str | None:
    """The same check for the legacy protocol's client messages (its PROTOCOL.md)."""
    kind, problem = _message_type(message)
    if kind is None:
        return problem
    body = cast("dict[str, Any]", message)
    if kind == "connection_init":
        if not _is_object_or_null(body.get("payload")):
            return "connection_init payload must be an object or null"
        return None
    if kind == "stop":
        return None if isinstance(body.get("id"), str) else "stop needs a string id"
    if kind == "start":
        return _operation_problem(kind, body)
    if kind == "connection_terminate":
        return None
    return f"unknown message type {kind!r}"


def close_reason(reason: str) -> str:
    """`reason` cut to the 123 bytes a close frame can carry (RFC 6455, section 5.5).

    Reasons may quote the client's input (an unknown type, a syntax error's token); a
    longer one would make the close itself fail and drop the connection without a code.
    """
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


def limit_error(limit: int) -> dict[str, Any]:
    return {
        "message": f"at most {limit} operations may run at once on one connection",
        "extensions": {"code": "RATE_LIMITED", "reason": "MAX_SUBSCRIPTIONS"},
    }


class TransportWSHandler(BaseGraphQLTransportWSHandler[SocketContext, None]):
    async def handle_message(self, message: Any) -> None:
        if self.connection_acknowledged:  # before that, Strawberry closes with 4401
            documents = cast("GraphQLWebSocket", self.view).documents
            message, refused = documents.message(message, "subscribe")
            if refused is not None:
                await self.websocket.send_json(
                    {"id": message["id"], "type": "error", "payload": [refused]}
                )
                return
        problem = transport_message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if message["type"] == "connection_init" and message.get("payload") is None:
            message = {**message, "payload": {}}  # PROTOCOL.md allows null
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except DatabaseUnavailable as outage:
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=outage.error.message)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged:
            try:
                error = await self.context.admit_operation(
                    message["id"], self.operations, self.max_subscriptions_per_connection
                )
            except KeyRevoked:
                await self.websocket.close(code=4403, reason=REVOKED)
                return
            if error is not None:
                await self.websocket.send_json(
                    {"id": message["id"], "type": "error", "payload": [error]}
                )
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        if cast("GraphQLWebSocket", self.view).shared_writes:
            open_lane(
                cast("SocketAdapter", self.websocket).send_text, transport_prefix(operation.id)
            )
        await super().run_operation(operation)

    async def handle_task_exception(self, error: Exception) -> None:
        if not isinstance(error, WebSocketDisconnected):
            await super().handle_task_exception(error)


class _AnyOperation:
    """The legacy protocol's `start` carries queries and mutations too, as its clients send.

    A document that does not parse or names no operation of its own closes the socket with
    4400, as on graphql-transport-ws (Strawberry's legacy handler would answer `error`).
    """

    def __init__(self, schema: Any, refuse: Callable[[str], Awaitable[None]]) -> None:
        self.schema = schema
        self.refuse = refuse

    async def subscribe(self, **kwargs: Any) -> Any:
        return self._refusing_bad_requests(await self.schema.stream(**kwargs))

    async def _refusing_bad_requests(self, source: Any) -> AsyncGenerator[Any, None]:
        async with aclosing(source):
            first = True
            async for result in source:
                if first and isinstance(result, PreExecutionError) and result.errors:
                    reason = pre_execution_close_reason(result.errors[0])
                    if reason is not None:
                        await self.refuse(reason)
                        return
                first = False
                yield result


class LegacyWSHandler(BaseGraphQLWSHandler[SocketContext, None]):
    """Strawberry's legacy handler, as strict as graphql-transport-ws about what it accepts.

    Strawberry ignores frames that are not JSON and closes a binary frame with 1002; here
    both, like any malformed message, close with 4400 and a reason, as the other protocol
    does, so a broken client learns why instead of waiting for an answer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _AnyOperation(self.schema, self.refuse)  # type: ignore[assignment]
        self.refused = False

    async def refuse(self, reason: str) -> None:
        """Close with 4400; messages a running task would still send go nowhere."""
        self.refused = True
        await self.websocket.close(code=BAD_REQUEST, reason=reason)

    async def send_message(self, message: Any) -> None:
        if not self.refused:
            await super().send_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        """A database outage: `connection_error` with the coded error, then 1013."""
        try:
            await super().handle_connection_init(message)
        except DatabaseUnavailable as outage:
            payload = graphql_error_body(outage.error)
            await self.send_message({"type": "connection_error", "payload": payload})
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=outage.error.message)

    async def handle(self) -> None:
        """Strawberry's loop, with 4400 for frames that are not JSON text and the 4408
        init timeout graphql-transport-ws has (the legacy protocol has none of its own)."""
        deadline = asyncio.create_task(self._init_deadline())
        try:
            await self._read_frames()
        finally:
            deadline.cancel()
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                with contextlib.suppress(BaseException):
                    await self.keep_alive_task
            await self.cleanup()

    async def _read_frames(self) -> None:
        try:
            async for message in self.websocket.iter_json():
                await self.handle_message(message)
        except NonTextMessageReceived:
            await self.refuse(NOT_TEXT)
        except NonJsonMessageReceived:
            await self.refuse(NOT_JSON)
        except WebSocketDisconnected:
            pass

    async def _init_deadline(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        if self.connection_acknowledged:
            documents = cast("GraphQLWebSocket", self.view).documents
            message, refused = documents.message(message, "start")
            if refused is not None:
                await self.websocket.send_json(
                    {"type": "error", "id": message["id"], "payload": refused}
                )
                return
        problem = legacy_message_problem(message)
        if problem is not None:
            await self.refuse(problem)
            return
        if message["type"] == "start" and self.connection_acknowledged:
            try:
                error = await self.context.admit_operation(
                    message["id"], self.tasks, self.max_subscriptions_per_connection
                )
            except KeyRevoked:
                await self.websocket.close(code=4403, reason=REVOKED)
                return
            if error is not None:
                await self.websocket.send_json(
                    {"type": "error", "id": message["id"], "payload": error}
                )
                return
        await super().handle_message(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        if cast("GraphQLWebSocket", self.view).shared_writes:
            open_lane(cast("SocketAdapter", self.websocket).send_text, legacy_prefix(operation_id))
        await super().handle_async_results(operation_id, query, operation_name, variables)


async def _close_revoked(websocket: WebSocket) -> None:
    """What `KeyWatch` does to a socket whose key was revoked while it was open."""
    with contextlib.suppress(Exception):
        await websocket.close(4403, REVOKED)


class SocketAdapter(ASGIWebSocketAdapter):
    """Sending after the socket closed (e.g. at shutdown) is a disconnect, not a crash; a
    frame nested too deep closes with 4400 on either protocol."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                yield message
        except NonJsonMessageReceived as error:
            if not isinstance(error.__cause__, FrameTooDeep):
                raise
            await self.close(BAD_REQUEST, TOO_DEEP)

    async def send_text(self, text: str) -> None:
        """A message already encoded (shared fan-out writes), with `send_json`'s errors."""
        try:
            await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError) as error:
            raise WebSocketDisconnected from error

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await super().send_json(message)
        except RuntimeError as error:
            raise WebSocketDisconnected from error

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError):
            await super().close(code, close_reason(reason))


class GraphQLWebSocket(GraphQL[SocketContext, None]):
    """The ASGI app behind `WebSocketRoute("/graphql")`."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = SocketAdapter

    def __init__(
        self,
        schema: Any,
        *,
        db: Database,
        session_ttl_seconds: int,
        init_timeout: float,
        max_subscriptions: int,
        keep_alive_interval: float,
        revocation_check_seconds: float = 5.0,
        shared_writes: bool = True,
        documents: PersistedDocuments | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,  # legacy `ka` messages, which its clients expect
            keep_alive_interval=keep_alive_interval,
            connection_init_wait_timeout=timedelta(seconds=init_timeout),
            max_subscriptions_per_connection=max_subscriptions,
            # Keys travel in `connection_init` or an Authorization header, never in
            # cookies, so a page on another origin gains nothing a script could not.
            allowed_origins=["*"],
        )
        self.db = db
        self.session_ttl_seconds = session_ttl_seconds
        # Persisted documents, and in trusted-only mode the only documents that run.
        self.documents = documents or PersistedDocuments()
        # Shared with SSE streams (graph/live/sse.py): one check of revoked keys for both.
        self.revocations = key_watch_of(db, revocation_check_seconds)
        # Subscribers of one event and selection get one execution and one encoding,
        # written to each socket (graph/live/fanout.py), unless an extension alters results.
        self.shared_writes = shared_writes and results_untouched_by_extensions(
            schema.get_extensions()
        )
        self.sockets: dict[WebSocket, SocketContext | None] = {}
        self.closing = False

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        """Every frame, on both protocols, as the HTTP door reads bodies: orjson, which
        stops at `MAX_FRAME_DEPTH` levels with an error where the standard library's
        parser would exhaust Python's recursion limit (a RecursionError, no close frame)."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            if "depth" in error.msg or "recursion" in error.msg.lower():
                raise FrameTooDeep(error.msg, error.doc, error.pos) from error
            raise

    async def get_context(self, request: Any, response: Any) -> SocketContext:
        context = SocketContext(
            self.db, self.session_ttl_seconds, request.headers.get("authorization")
        )
        if request in self.sockets:
            self.sockets[request] = context
            context.close_revoked = functools.partial(_close_revoked, request)
        return context

    async def on_ws_connect(self, context: SocketContext) -> UnsetType | dict[str, object] | None:
        """The key from the init payload, else from the upgrade request; 4403 when bad,
        `DatabaseUnavailable` when the database cannot check it now."""
        value = key_from_params(context.connection_params) or context.upgrade_key
        context.key = value
        try:
            context.principal = await principal_from_header(self.db, value)
        except Unauthenticated as error:
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": {"code": "UNAUTHENTICATED"}}
            ) from error
        except Exception as error:
            down = unavailable(error)
            if down is None:
                raise
            log_unavailable(error, "the WebSocket key check")
            raise DatabaseUnavailable(down) from error
        if context.close_revoked is not None:
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

    async def close_all(self, reason: str = "server shutting down") -> None:
        """Shutdown: every open socket gets 1001 so clients reconnect elsewhere and resume."""
        self.closing = True
        await self.revocations.stop()
        for websocket in list(self.sockets):
            with contextlib.suppress(Exception):
                await websocket.close(GOING_AWAY, reason)
