"""uvicorn, configured once for every way the server runs, plus a graceful shutdown
(`GracefulServer`) and bounded request heads (`BoundedHttpProtocol`)."""

import asyncio
import contextlib
import logging
import resource
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess, multiprocess

from graph.settings import Settings

log = logging.getLogger("sessiongraph.server")

# Request line plus headers: room for proxies' forwarding headers and a shared domain's
# large cookies (h11 allows 16 KiB by default).
MAX_HEADER_BYTES = 64 * 1024

_TOO_LARGE_BODY = (
    b'{"error":{"code":"headers_too_large","message":"the request headers exceed 64 KiB"}}'
)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n\r\n" + _TOO_LARGE_BODY
)


class ServerConfig(uvicorn.Config):
    """`uvicorn.Config` plus the header deadline, pickled into `--workers` children."""

    def __init__(self, app: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn waits forever for a request's headers, so a client trickling bytes (or none)
    holds a socket as long as it likes: close a connection whose headers are not complete
    `header_timeout` seconds after it opened or its request began; 431 past MAX_HEADER_BYTES."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout: float = getattr(config, "header_timeout", 10.0)
        self.head_deadline: asyncio.TimerHandle | None = None
        self.head_bytes = 0
        self.refused = False

    def _arm(self) -> None:
        self._disarm()
        self.head_bytes = 0
        self.head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        # After a WebSocket upgrade the transport belongs to the WebSocket protocol.
        if not self.transport.is_closing() and self.transport.get_protocol() is self:
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is bounded too

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # the rest of an oversized head: read and dropped until the deadline
        if self.head_deadline is not None:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEADER_BYTES:
                self._refuse()
                return
        super().data_received(data)

    def _refuse(self) -> None:
        """Answer 431, then drop what the client sends until the deadline (closing with
        unread bytes would reset the connection and could lose the answer)."""
        self.refused = True
        self.transport.write(_TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_deadline is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def raise_open_file_limit() -> None:
    """Every socket is a file descriptor: raise the soft limit (often 1,024) to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as error:  # e.g. macOS caps below its reported hard limit
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, error)


class GracefulServer(uvicorn.Server):
    """uvicorn closes WebSockets with 1012 before the lifespan shutdown runs: first call the
    app's `state.drain()` (WebSockets closed with 1001 "going away", SSE streams ended)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.loaded_app
        for _ in range(10):  # down through uvicorn's middleware to the app that can drain
            drain = getattr(getattr(app, "state", None), "drain", None)
            if drain is not None:
                with contextlib.suppress(Exception):
                    await drain()
                break
            app = getattr(app, "app", None)
        await super().shutdown(sockets)


class GracefulProcess(multiprocess.Process):
    """A `--workers` child that runs `GracefulServer` (the object is pickled into the child)."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GracefulServer(config=self.config)
        return self._server


def run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve with the one uvicorn configuration: one process, or `workers` sharing one socket."""
    config = ServerConfig(
        "graph.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config={"version": 1, "disable_existing_loggers": False},  # configure_logging owns it
        access_log=False,  # graph.ops.metrics writes the access log, with request ids
        http=BoundedHttpProtocol,
        header_timeout=settings.http_header_timeout_seconds,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # the same bound under `http=h11`
        timeout_keep_alive=settings.http_keepalive_seconds,
        ws_max_size=settings.graphql_max_body_bytes,  # the /graphql body limit (1009 above)
        # Stream messages are small and go to many sockets: compressing each one per
        # connection costs more CPU and memory (a zlib context per socket) than it saves.
        ws_per_message_deflate=False,
    )
    raise_open_file_limit()  # before the workers start: they inherit it
    if config.workers > 1:
        sock = config.bind_socket()
        multiprocess.Process = GracefulProcess  # type: ignore[misc]  # the supervisor's factory
        Multiprocess(config, sockets=[sock]).run()
    else:
        GracefulServer(config).run()
