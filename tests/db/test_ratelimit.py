"""The per-minute budget: exact for small limits, never over the limit, rarely in the database."""

from __future__ import annotations

import asyncio
import math

import sqlalchemy as sa

from db.models import rate_windows
from db.ratelimit import SLICES_PER_LIMIT, RateLimiter
from db.store.engine import Database
from tests.conftest import unique
from tests.support.statements import count_statements


class Clock:
    """A settable clock, so minute boundaries are reached without waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


START = 1_800_000_000.0  # a minute boundary (divisible by 60)


async def test_small_limit_is_exact_and_counts_down(db: Database) -> None:
    limiter = RateLimiter(db, clock=Clock(START + 15))
    org = unique("org")
    decisions = [await limiter.admit(org, 5) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert all(d.limit == 5 and d.reset_seconds == 45 for d in decisions)


async def test_a_new_minute_brings_a_new_budget(db: Database) -> None:
    clock = Clock(START + 59.5)
    limiter = RateLimiter(db, clock=clock)
    org = unique("org")
    assert [(await limiter.admit(org, 2)).allowed for _ in range(3)] == [True, True, False]
    clock.now = START + 60.2
    assert [(await limiter.admit(org, 2)).allowed for _ in range(3)] == [True, True, False]
    # Rows of past minutes are cleared once a process moves on.
    clock.now = START + 120.5
    await limiter.admit(org, 2)
    async with db.read() as conn:
        minutes = (
            await conn.scalars(
                sa.select(rate_windows.c.minute).where(rate_windows.c.organization_id == org)
            )
        ).all()
    assert min(minutes) >= int((START + 60) // 60)


async def test_processes_share_one_budget(database_url: str) -> None:
    """Two limiters on two engines stand for two server processes."""
    dbs = [Database(database_url), Database(database_url)]
    try:
        clock = Clock(START + 1)
        limiters = [RateLimiter(d, clock=clock) for d in dbs]
        org = unique("org")

        admitted = [0, 0]
        for _ in range(15):  # taking turns, 30 requests in all
            for i, limiter in enumerate(limiters):
                admitted[i] += (await limiter.admit(org, 20)).allowed
        assert admitted == [10, 10]
        # Both now see the shared budget as spent.
        assert not any([(await limiter.admit(org, 20)).allowed for limiter in limiters])
    finally:
        for d in dbs:
            await d.dispose()


async def test_large_limit_never_over_admits_and_rarely_writes(database_url: str) -> None:
    limit = 1_000
    dbs = [Database(database_url), Database(database_url)]
    try:
        clock = Clock(START + 1)
        limiters = [RateLimiter(d, clock=clock) for d in dbs]
        org = unique("org")
        counters = [count_statements(d) for d in dbs]
        seen = [c.__enter__() for c in counters]

        async def hammer(limiter: RateLimiter) -> int:
            admitted = 0
            for _ in range(800):
                admitted += (await limiter.admit(org, limit)).allowed
                await asyncio.sleep(0)
            return admitted

        admitted = await asyncio.gather(*(hammer(limiter) for limiter in limiters))
        for c in counters:
            c.__exit__(None, None, None)
        total = sum(admitted)
        assert total <= limit
        # Unspent slices of the other process are the only requests refused too early.
        assert total >= limit - math.ceil(limit / SLICES_PER_LIMIT)
        statements = sum(s.count for s in seen)
        assert statements < total / 4, statements
    finally:
        for d in dbs:
            await d.dispose()


async def test_other_organisations_are_not_affected(db: Database) -> None:
    limiter = RateLimiter(db, clock=Clock(START + 1))
    busy, quiet = unique("org"), unique("org")
    for _ in range(4):
        await limiter.admit(busy, 3)
    assert not (await limiter.admit(busy, 3)).allowed
    assert (await limiter.admit(quiet, 3)).allowed


async def test_concurrent_requests_in_one_process_lease_once(db: Database) -> None:
    limiter = RateLimiter(db, clock=Clock(START + 1))
    org = unique("org")
    with count_statements(db) as counter:
        decisions = await asyncio.gather(*(limiter.admit(org, 5_000) for _ in range(50)))
    assert all(d.allowed for d in decisions)
    # 5,000 / 50 = slices of 100: the 50 requests wait for a single lease.
    assert counter.count == 3
