"""Deleted sessions, remembered for a day after their rows are gone.

Hints about deletions are not durable: a process whose LISTEN connection was down when a
session was deleted elsewhere would never hear of it, and an organisation-wide
`sessionUpdates` watcher would keep showing a session that no longer exists. Each
deletion therefore leaves a tombstone in the same transaction (`bury`), and a reconnecting
process asks for those laid since its outage began (`deleted_since`, db/live/feeds.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from db import clock
from db.store.engine import Database
from db.store.tombstones import bury, deleted_since, forget_before

__all__ = ["TOMBSTONE_RETENTION", "bury", "deleted_since", "forget_old"]

# Far longer than any LISTEN outage the bus recovers from (it retries every few seconds).
TOMBSTONE_RETENTION = timedelta(days=1)


async def forget_old(db: Database, now: datetime | None = None) -> int:
    """Drop tombstones older than the retention; how many."""
    return await forget_before(db, (now or clock.now()) - TOMBSTONE_RETENTION)
