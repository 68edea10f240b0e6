"""Server-Sent Events: the `sessionEvents` feed for REST clients and `EventSource`. Each
event's `id:` is its sequence, so `Last-Event-ID` (or `?after=`) resumes exactly after the
last event seen; the frames are described in /openapi.json (graph/rest/openapi.py)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from db import sessions as session_ops
from db.errors import DomainError, InvalidInput, Unauthenticated
from db.keys import REVOKED_MESSAGE, key_watch_of
from db.live.feeds import feeds_of
from db.store.engine import Database
from graph.http.auth import KeyRequired, principal_of
from graph.ops.metrics import OPEN_SUBSCRIPTIONS
from graph.rest.models import Event
from graph.schema.errors import door_error_response, mapping_for, rest_error_body

STREAM_PATH = "/v1/products/generation/sessions/{session_id}/events/stream"
RETRY_MS = 2000
MAX_SEQUENCE = 2**31 - 1  # a GraphQL Int: no session gets further


def frame(kind: str, data: Any, event_id: int | None = None) -> bytes:
    """`data` is JSON: a value, or text already encoded (an event, as REST writes it)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"{head}event: {kind}\ndata: {body}\n\n".encode()


def error_frame(error: DomainError) -> bytes:
    code = mapping_for(error).rest_code
    return frame("error", rest_error_body(code, error.message, field=error.field))


def resume_point(request: Request) -> int:
    """`Last-Event-ID` wins over `?after=` (it is what a reconnecting browser sends)."""
    for name, raw in (
        ("Last-Event-ID", request.headers.get("last-event-id")),
        ("after", request.query_params.get("after")),
    ):
        text = (raw or "").strip()
        if not text:
            continue
        # ASCII digits only: `isdigit` alone also accepts "²", which `int` refuses.
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEQUENCE:
            raise InvalidInput(
                f"{name} must be a sequence number (0 to {MAX_SEQUENCE})", field=name
            )
        return int(text)
    return 0


class EventStreams:
    """The SSE endpoint and its open streams, so shutdown can end them cleanly."""

    def __init__(self, db: Database, *, keepalive_seconds: float) -> None:
        self.db = db
        self.keepalive_seconds = keepalive_seconds
        self.revocations = key_watch_of(db)  # shared with WebSockets, which set its interval
        self._stopping = asyncio.Event()
        self.open = 0

    def stop_all(self) -> None:
        self._stopping.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        principal = principal_of(request.scope)
        try:
            after = resume_point(request)
            session = await session_ops.get_session(self.db, principal, session_id)
        except DomainError as error:
            return door_error_response(error, rest=True)
        if session.is_terminal and after >= session.last_sequence:
            return Response(status_code=204)
        return StreamingResponse(
            self._body(principal.key_id, session_id, after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _body(self, key_id: str, session_id: str, after: int) -> AsyncIterator[bytes]:
        # The reader is made here, not in `respond`: a body that never starts (the client
        # left first) then never registers a reader it could not unregister.
        reader = feeds_of(self.db).events(session_id, after)
        self.open += 1
        OPEN_SUBSCRIPTIONS.inc()
        revoked = asyncio.Event()

        async def on_revoked() -> None:
            revoked.set()

        stop_watching = self.revocations.watch(key_id, on_revoked)
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        ending: asyncio.Future[Any] = asyncio.ensure_future(revoked.wait())
        following: asyncio.Future[Any] | None = None
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while True:
                following = following or asyncio.ensure_future(anext(reader, None))
                done, _ = await asyncio.wait(
                    {following, stopping, ending},
                    timeout=self.keepalive_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if ending in done:
                    # What a new request with this key gets (401 `unauthenticated`); the
                    # browser's reconnect then gets that 401 and `EventSource` stops.
                    yield error_frame(Unauthenticated(REVOKED_MESSAGE))
                    return
                if following in done:
                    finished, following = following, None
                    try:
                        event = finished.result()
                    except DomainError as error:
                        yield error_frame(error)
                        return
                    if event is None:
                        yield frame("end", {"lastSequence": reader.position})
                        return
                    yield frame(
                        "event", Event.of(event).model_dump_json(by_alias=True), event.sequence
                    )
                elif stopping in done:
                    return  # shutdown: end cleanly; EventSource resumes elsewhere
                else:
                    yield b": keep-alive\n\n"
        finally:
            stop_watching()
            for waiter in (following, stopping, ending):
                if waiter is not None:
                    waiter.cancel()  # a no-op once done
            reader.close()
            self.open -= 1
            OPEN_SUBSCRIPTIONS.dec()


def event_stream_endpoint(streams: EventStreams) -> KeyRequired:
    return KeyRequired(streams, streams.db)
