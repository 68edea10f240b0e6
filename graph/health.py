"""Liveness and readiness: `/healthz` says the process answers, `/readyz` that it can serve."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from db.engine import Database
from db.migrate import current_revision, head_revision
from graph.jsonio import JSONResponse

log = logging.getLogger("sessiongraph.health")


async def healthz(_: Request) -> Response:
    """Alive means the process answers; it deliberately does not touch the database."""
    return JSONResponse({"status": "ok"})


async def readiness(db: Database) -> tuple[bool, dict[str, object]]:
    """Ready when the database answers and its schema is at the newest migration."""
    try:
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
        revision = await current_revision(db)
    except Exception as error:  # any failure to reach the database means "not ready"
        log.warning("readiness check failed: %s", error)
        return False, {"status": "unavailable", "database": "unreachable"}
    head = head_revision()
    if revision != head:
        body: dict[str, object] = {
            "status": "unavailable",
            "database": "ok",
            "migration": revision,
            "head": head,
        }
        return False, body
    return True, {"status": "ok", "database": "ok", "migration": revision}


async def readyz(request: Request) -> Response:
    ready, body = await readiness(request.app.state.db)
    return JSONResponse(body, status_code=200 if ready else 503)
