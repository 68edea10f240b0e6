"""Expiry in the background: store the `expired` status reads already compute, tell
watchers, and delete expired sessions after their retention. Several processes may sweep
one database: the conditional UPDATE/DELETE lets one of them claim each session."""

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from db import clock
from db.live.bus import Hint
from db.store import live as store
from db.store import sessions as session_store
from db.store.engine import Database
from db.store.outages import log_failure

log = logging.getLogger("sessiongraph.expiry")
BATCH = 500


async def expire_due(db: Database, now: datetime | None = None) -> int:
    """Persist `expired` on live sessions past `expiresAt`; fields and revision stay as read."""
    now = now or clock.now()
    total = 0
    while True:
        async with db.write() as conn:
            claimed = await store.mark_expired(conn, now, BATCH)
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
        async with db.write() as conn:
            picked, gone = await store.delete_expired(conn, cutoff, BATCH)
            await session_store.bury(conn, gone, clock.now())
        for session_id, organization_id in gone:
            db.bus.publish(Hint("deleted", session_id, organization_id))
        total += len(gone)
        if picked < BATCH:
            return total


class ExpirySweeper:
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
                expired = await expire_due(self.db)
                deleted = await delete_expired(self.db, self.retention)
                await session_store.forget_old(self.db)
                self.sweeps += 1
                if expired or deleted:
                    log.info("expired %d sessions, deleted %d", expired, deleted)
            except Exception as error:
                log_failure(log, error, "expiry sweep failed; retrying next interval")
            await asyncio.sleep(self.interval)
