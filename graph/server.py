"""uvicorn, with one step added before its shutdown: the app says goodbye first.

uvicorn closes open WebSockets itself with 1012 before the ASGI lifespan shutdown runs,
so the app could not choose its close code there. `GracefulServer` first calls the
app's `state.drain()` (WebSockets closed with 1001 "going away", SSE streams ended
cleanly), then lets uvicorn shut down as usual.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess, multiprocess


async def drain_app(app: Any) -> None:
    """Find the Starlette app under uvicorn's middleware and run its `drain`, if any."""
    seen = 0
    while app is not None and seen < 10:
        drain = getattr(getattr(app, "state", None), "drain", None)
        if drain is not None:
            await drain()
            return
        app = getattr(app, "app", None)
        seen += 1


class GracefulServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(Exception):
            await drain_app(self.config.loaded_app)
        await super().shutdown(sockets)


class GracefulProcess(multiprocess.Process):
    """A `--workers` child that runs `GracefulServer` (the object is pickled into the child)."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GracefulServer(config=self.config)
        return self._server


def run(config: uvicorn.Config) -> None:
    """`uvicorn.run` for our server class: one process, or `workers` sharing one socket."""
    if config.workers > 1:
        sock = config.bind_socket()
        multiprocess.Process = GracefulProcess  # type: ignore[misc]  # the supervisor's factory
        Multiprocess(config, sockets=[sock]).run()
    else:
        GracefulServer(config).run()
