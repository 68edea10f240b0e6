"""Request ids: taken from a caller's `X-Request-ID` when sane, else minted; echoed back.

`graph.metrics.Observed`, the one middleware every request passes, assigns and echoes it.

The id is held in a context variable so every log line written while serving the request
carries it, whichever module writes the line.
"""

from __future__ import annotations

import os
import random
import re
from contextvars import ContextVar

HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Seeded from the OS once per process, and again in a forked child, so workers differ.
_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def new_request_id() -> str:
    """64 random bits from a generator seeded once from the OS.

    Request ids must be unique, not secret; reading the OS CSPRNG on every request cost
    more than the rest of the id handling.
    """
    return f"req_{_ids.getrandbits(64):016x}"


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE.match(text):
                return text
    return new_request_id()
