"""`maxRequestsPerMinute`: one budget per organisation and UTC minute, for all processes. A
write per request is too dear, so each process leases a slice of the minute (`rate_windows`)
and spends it locally; nothing over-admits. Unspent slices are lost to other processes, but
slices shrink (an eighth of what is left, at most a fiftieth of the limit), so fewer than
`processes * limit / 50` requests a minute are lost, none with a limit of 50 or less."""

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from db.store import ratelimit as store
from db.store.engine import Database

WINDOW_SECONDS = 60
SLICES_PER_LIMIT = 50
SLICE_OF_REMAINDER = 8


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # also the Retry-After of a refusal


@dataclass(slots=True)
class _Budget:
    minute: int
    available: int = 0  # leased by this process and not yet spent
    seen: int = 0  # the shared count after this process's last lease
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def slice_size(limit: int, used: int) -> int:
    if (left := limit - used) <= 0:
        return 0
    return max(1, min(math.ceil(limit / SLICES_PER_LIMIT), left // SLICE_OF_REMAINDER))


class RateLimiter:
    """Admits requests per organisation; one per process and database (`limiter_for`)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.budgets: dict[str, _Budget] = {}
        self.current_minute = 0

    async def admit(self, organization_id: str, limit: int) -> Decision:
        now = self.clock()
        minute = int(now // WINDOW_SECONDS)
        reset = max(1, math.ceil((minute + 1) * WINDOW_SECONDS - now))
        if minute != self.current_minute:  # the first process to notice clears old rows
            previous, self.current_minute = self.current_minute, minute
            self.budgets = {o: b for o, b in self.budgets.items() if b.minute >= minute}
            if previous:
                await store.forget_windows_before(self.db, minute - 1)
        budget = self.budgets.get(organization_id)
        if budget is None or budget.minute != minute:
            budget = self.budgets[organization_id] = _Budget(minute)
        if budget.available <= 0 and budget.seen < limit:
            async with budget.lock:
                # Another request may have leased while this one waited for the lock.
                if budget.available <= 0 and budget.seen < limit:
                    grant = partial(slice_size, limit)
                    granted, seen = await store.lease(self.db, organization_id, minute, grant)
                    budget.available += granted
                    budget.seen = max(budget.seen, seen)
        if budget.available > 0:
            budget.available -= 1
            return Decision(True, limit, max(limit - budget.seen, 0) + budget.available, reset)
        return Decision(False, limit, 0, reset)


def limiter_for(db: Database) -> RateLimiter:
    """The process's limiter for `db`: every door of one process spends the same budgets."""
    return db.part(RateLimiter)
