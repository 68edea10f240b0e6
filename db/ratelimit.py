"""`maxRequestsPerMinute`: one budget per organisation and minute, shared by all processes.

Counting every request in the database would add a write to every request. Instead each
process *leases* a slice of the minute's budget (`rate_windows.used` grows by the slice in
one short write transaction) and spends it locally; it asks for another slice only when
its own runs out. The database never grants more than the limit, so the service as a
whole never admits more than `maxRequestsPerMinute` in a minute: there is no
over-admission. The price is the opposite error: slices leased by one process and not yet
spent cannot be spent by another, so near the end of a budget a process may refuse while
another still holds unspent requests. Slices shrink as the budget runs out (an eighth of
what is left, at most a fiftieth of the limit), which bounds that under-admission to
fewer than `processes * limit / 50` requests per minute and in practice far less. With
a limit of 50 or less every slice is one request, and the count is exact.

Windows are fixed, aligned to the UTC minute of the processes' clocks.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db.models import rate_windows
from db.store.engine import Database

WINDOW_SECONDS = 60
SLICES_PER_LIMIT = 50
SLICE_OF_REMAINDER = 8


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request, with what the RateLimit header fields report."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def retry_after_seconds(self) -> int:
        return self.reset_seconds


@dataclass(slots=True)
class _Budget:
    """This process's view of one organisation's current minute."""

    minute: int
    available: int = 0  # leased by this process and not yet spent
    seen: int = 0  # the shared count after this process's last lease
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def remaining(self, limit: int) -> int:
        return max(limit - self.seen, 0) + self.available


def slice_size(limit: int, used: int) -> int:
    left = limit - used
    if left <= 0:
        return 0
    return max(1, min(math.ceil(limit / SLICES_PER_LIMIT), left // SLICE_OF_REMAINDER))


async def lease(db: Database, organization_id: str, minute: int, limit: int) -> tuple[int, int]:
    """Take a slice of the organisation's budget for `minute`: (granted, shared count after).

    One write transaction of three statements; the row lock (PostgreSQL) or the write lock
    (SQLite) makes concurrent leases from any process add up exactly.
    """
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    key = (rate_windows.c.organization_id == organization_id) & (rate_windows.c.minute == minute)
    async with db.write() as conn:
        await conn.execute(
            insert(rate_windows)
            .values(organization_id=organization_id, minute=minute, used=0)
            .on_conflict_do_nothing()
        )
        used = await conn.scalar(sa.select(rate_windows.c.used).where(key).with_for_update())
        granted = slice_size(limit, used or 0)
        if granted:
            await conn.execute(
                rate_windows.update().where(key).values(used=rate_windows.c.used + granted)
            )
    return granted, (used or 0) + granted


class _RollBack(Exception):
    """Raised inside the probe's transaction so `Database.write` rolls it back."""


async def probe_lease(db: Database) -> None:
    """Do what a lease does (an upsert into `rate_windows`, in a write transaction) and roll
    it back. A database that answers reads but refuses writes (a read-only file or
    filesystem, a standby after failover, a full disk) fails every authenticated request
    at its lease; this lets readiness find that out without changing anything."""
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(rate_windows)
                .values(organization_id="", minute=-1, used=0)
                .on_conflict_do_nothing()
            )
            raise _RollBack
    except _RollBack:
        pass


async def forget_old_windows(db: Database, before_minute: int) -> None:
    """Rows of past minutes are never read again."""
    async with db.write() as conn:
        await conn.execute(rate_windows.delete().where(rate_windows.c.minute < before_minute))


class RateLimiter:
    """Admits requests per organisation; one per process and database (`limiter_for`)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.budgets: dict[str, _Budget] = {}
        self.current_minute = 0

    async def admit(self, organization_id: str, limit: int) -> Decision:
        """Spend one request of the organisation's minute, or refuse until the minute ends."""
        now = self.clock()
        minute = int(now // WINDOW_SECONDS)
        reset = max(1, math.ceil((minute + 1) * WINDOW_SECONDS - now))
        if minute != self.current_minute:
            await self._new_minute(minute)
        budget = self.budgets.get(organization_id)
        if budget is None or budget.minute != minute:
            budget = self.budgets[organization_id] = _Budget(minute)
        if budget.available <= 0 and budget.seen < limit:
            async with budget.lock:
                # Another request may have leased while this one waited for the lock.
                if budget.available <= 0 and budget.seen < limit:
                    granted, seen = await lease(self.db, organization_id, minute, limit)
                    budget.available += granted
                    budget.seen = max(budget.seen, seen)
        if budget.available > 0:
            budget.available -= 1
            return Decision(True, limit, budget.remaining(limit), reset)
        return Decision(False, limit, 0, reset)

    async def _new_minute(self, minute: int) -> None:
        """Drop last minute's budgets; the first process to notice clears old rows."""
        previous, self.current_minute = self.current_minute, minute
        self.budgets = {o: b for o, b in self.budgets.items() if b.minute >= minute}
        if previous:
            await forget_old_windows(self.db, minute - 1)


_limiters: weakref.WeakKeyDictionary[Database, RateLimiter] = weakref.WeakKeyDictionary()


def limiter_for(db: Database) -> RateLimiter:
    """The process's limiter for `db`: every door of one process spends the same budgets."""
    limiter = _limiters.get(db)
    if limiter is None:
        limiter = _limiters[db] = RateLimiter(db)
    return limiter
