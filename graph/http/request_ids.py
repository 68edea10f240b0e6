"""Request ids: taken from a caller's `X-Request-ID` when sane, else minted; echoed back.

`graph.ops.metrics.Observed`, the one middleware every request passes, assigns and echoes it.

The id is held in a context variable so every log line written while serving the request
carries it, whichever module writes the line.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE.match(text):
                return text
    return new_request_id()
