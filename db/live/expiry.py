"""Expiry in the background: store the `expired` status readers already see, then forget.

Reads never wait for this sweep (they compute the effective status themselves); the sweep
makes the status durable, tells watchers (`expired` hints end their streams), and deletes
expired sessions once their retention has passed. Several processes may sweep one
database: the conditional UPDATE/DELETE lets only one of them claim each session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from db import clock, tombstones
from db import status as status_rules
from db.live.bus import Hint
from db.models import events, sessions
from db.store.engine import Database
from db.store.outages import log_failure

log = logging.getLogger("sessiongraph.expiry")
BATCH = 500


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired: int
    deleted: int


async def expire_due(db: Database, now: datetime | None = None) -> int:
    """Persist `expired` on live sessions past `expiresAt`; fields and revision stay as read."""
    now = now or clock.now()
    total = 0
    while True:
        due = sa.and_(sessions.c.status.in_(status_rules.LIVE), sessions.c.expires_at <= now)
        async with db.write() as conn:
            claimed = (
                await conn.execute(
                    sessions.update()
                    .where(
                        due,
                        sessions.c.id.in_(sa.select(sessions.c.id).where(due).limit(BATCH)),
                    )
                    .values(status=status_rules.EXPIRED)
                    .returning(sessions.c.id, sessions.c.organization_id)
                )
            ).all()
        for row in claimed:
            db.bus.publish(Hint("expired", row.id, row.organization_id))
        total += len(claimed)
        if len(claimed) < BATCH:
            return total


async def delete_expired(db: Database, retention: timedelta, now: datetime | None = None) -> int:
    """Delete sessions (and their logs) that expired more than `retention` ago."""
    cutoff = (now or clock.now()) - retention
    total = 0
    while True:
        old = sa.and_(sessions.c.status == status_rules.EXPIRED, sessions.c.expires_at <= cutoff)
        async with db.write() as conn:
            doomed = (
                await conn.execute(
                    sa.select(sessions.c.id, sessions.c.organization_id).where(old).limit(BATCH)
                )
            ).all()
            ids = [row.id for row in doomed]
            gone: list[tuple[str, str | None]] = []
            if ids:
                await conn.execute(events.delete().where(events.c.session_id.in_(ids)))
                gone = [
                    (row.id, row.organization_id)
                    for row in await conn.execute(
                        sessions.delete()
                        .where(sessions.c.id.in_(ids), old)
                        .returning(sessions.c.id, sessions.c.organization_id)
                    )
                ]
                await tombstones.bury(conn, gone, clock.now())
        for session_id, organization_id in gone:
            db.bus.publish(Hint("deleted", session_id, organization_id))
        total += len(gone)
        if len(doomed) < BATCH:
            return total


async def sweep(db: Database, retention: timedelta) -> SweepResult:
    expired = await expire_due(db)
    deleted = await delete_expired(db, retention)
    await tombstones.forget_old(db)
    return SweepResult(expired, deleted)


class ExpirySweeper:
    """Runs `sweep` every `interval` seconds until stopped; a failed sweep is logged and retried."""

    def __init__(self, db: Database, *, interval: float, retention: timedelta) -> None:
        self.db = db
        self.interval = interval
        self.retention = retention
        self.sweeps = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sessiongraph-expiry")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                result = await sweep(self.db, self.retention)
                self.sweeps += 1
                if result.expired or result.deleted:
                    log.info("expired %d sessions, deleted %d", result.expired, result.deleted)
            except Exception as error:
                log_failure(log, error, "expiry sweep failed; retrying next interval")
            await asyncio.sleep(self.interval)
