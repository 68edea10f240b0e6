"""Liveness and readiness: `/healthz` says the process answers, `/readyz` that it can serve."""

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


async def readyz(request: Request) -> Response:
    """200 when the database does what every authenticated request does (a key lookup, a
    rate-limit lease rolled back) at the newest migration; else 503 saying what is wrong."""
    db: Database = request.app.state.db
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            head = head_revision()
            revision = await current_revision(db)
            if revision == head:
                await principal_for_hash(db, _NO_SUCH_KEY)
                await probe_lease(db)
    except Exception as error:  # any failure to use the database means "not ready"
        down = unavailable(error)
        reason = down.reason if down is not None else UNREACHABLE
        log.warning("readiness check failed (%s): %s: %s", reason, type(error).__name__, error)
        return JSONResponse({"status": "unavailable", "database": reason}, status_code=503)
    if revision != head:
        body = {"status": "unavailable", "database": "ok", "migration": revision, "head": head}
        return JSONResponse(body, status_code=503)
    # The bus never makes the process unready: while its broker is down, live streams read
    # the database every few seconds instead (`bus` says `degraded (polling)`).
    body = {"status": "ok", "database": "ok", "migration": revision, "bus": db.bus.state}
    return JSONResponse(body)
