"""Liveness and readiness: `/healthz` says the process answers, `/readyz` that it can serve."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from db.store.engine import Database
from db.store.keys import principal_for_hash
from db.store.migrate import current_revision, head_revision
from db.store.ratelimit import probe_lease
from graph.http.jsonio import JSONResponse
from graph.schema.errors import UNREACHABLE, unavailable

log = logging.getLogger("sessiongraph.health")

# A probe that hangs is as bad as one that fails; load balancers give up after a few
# seconds anyway, and a database that needs longer cannot serve requests either.
READINESS_TIMEOUT_SECONDS = 5.0
_NO_SUCH_KEY = "0" * 64


async def healthz(_: Request) -> Response:
    """Alive means the process answers; it deliberately does not touch the database."""
    return JSONResponse({"status": "ok"})


async def _can_serve(db: Database) -> str | None:
    """The schema revision, once the database has done what every authenticated request
    does: a key lookup (the lean reader) and a rate-limit lease write (rolled back)."""
    revision = await current_revision(db)
    if revision == head_revision():
        await principal_for_hash(db, _NO_SUCH_KEY)
        await probe_lease(db)
    return revision


async def readiness(db: Database) -> tuple[bool, dict[str, object]]:
    """Ready when requests can succeed: the database answers reads and takes writes, and
    its schema is at the newest migration. `database` names what is wrong:
    `unreachable`, `busy` or `read_only` (see `graph.schema.errors.unavailable`). When ready,
    `bus` is `ok`, or `degraded (polling)` while the hint bus's broker is unreachable."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            revision = await _can_serve(db)
    except Exception as error:  # any failure to use the database means "not ready"
        down = unavailable(error)
        reason = down.reason if down is not None else UNREACHABLE
        log.warning("readiness check failed (%s): %s: %s", reason, type(error).__name__, error)
        return False, {"status": "unavailable", "database": reason}
    head = head_revision()
    if revision != head:
        body: dict[str, object] = {
            "status": "unavailable",
            "database": "ok",
            "migration": revision,
            "head": head,
        }
        return False, body
    # The bus never makes the process unready: while its broker is down, live streams
    # read the database every few seconds instead, so every request still succeeds.
    return True, {"status": "ok", "database": "ok", "migration": revision, "bus": db.bus.state}


async def readyz(request: Request) -> Response:
    ready, body = await readiness(request.app.state.db)
    return JSONResponse(body, status_code=200 if ready else 503)
