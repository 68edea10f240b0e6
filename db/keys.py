"""API keys and their organisations' plans. Keys are 160 random bits, so a fast SHA-256 stores
them safely (a slow hash buys nothing against an unguessable key) and is looked up by an index.
A plan change applies to the next request; sessions keep the plan they were created with."""

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable

from db import clock
from db.errors import InvalidInput, NotFound, Unauthenticated
from db.ids import new_key_id
from db.records import KeyRecord, Plan, Principal
from db.store import keys as store
from db.store.engine import Database
from db.store.keys import has_keys as has_keys  # the CLI's listings need no rule
from db.store.keys import list_keys as list_keys
from db.store.keys import list_plans as list_plans
from db.store.outages import log_failure

log = logging.getLogger("sessiongraph.keys")

KEY_PREFIX = "sgk_"
REVOKED_MESSAGE = "the API key was revoked"
DEFAULT_PLAN = Plan(name="Standard", max_sessions=1000, max_requests_per_minute=600)
_MAX_NAME = 255
MAX_LIMIT = 1_000_000_000


def key_hash_of(secret: str | None) -> str | None:
    """The hash to look a presented key up by; None for what cannot be a key at all."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 128:
        return None
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(value: str, field: str) -> str:
    if not value or len(value) > _MAX_NAME or not value.isprintable() or value != value.strip():
        raise InvalidInput(f"{field} must be 1-{_MAX_NAME} printable characters", field=field)
    return value


async def create_key(
    db: Database, organization_id: str, user_id: str, *, plan: Plan = DEFAULT_PLAN
) -> tuple[KeyRecord, str]:
    """The record and the secret (shown once, never stored); a new organisation gets `plan`."""
    check_name(organization_id, "org")
    check_name(user_id, "user")
    secret = KEY_PREFIX + secrets.token_hex(20)
    record = KeyRecord(new_key_id(), organization_id, user_id, secret[:12], clock.now(), None)
    async with db.write() as conn:
        await store.put_organization(conn, organization_id, plan, {})
        await store.add_key(conn, record, hashlib.sha256(secret.encode()).hexdigest())
    return record, secret


def _check_limit(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"{field} must be an integer from 1 to {MAX_LIMIT}", field=field)
    return value


async def set_plan(
    db: Database,
    organization_id: str,
    *,
    name: str | None = None,
    max_sessions: int | None = None,
    max_requests_per_minute: int | None = None,
) -> Plan:
    """Change the given parts of a plan; an unknown organisation is created on the default plan."""
    check_name(organization_id, "org")
    changes: dict[str, object] = {}
    if name is not None:
        changes["plan_name"] = check_name(name, "name")
    if max_sessions is not None:
        changes["max_sessions"] = _check_limit(max_sessions, "maxSessions")
    if max_requests_per_minute is not None:
        changes["max_requests_per_minute"] = _check_limit(
            max_requests_per_minute, "maxRequestsPerMinute"
        )
    async with db.write() as conn:
        await store.put_organization(conn, organization_id, DEFAULT_PLAN, changes)
    ((_, plan),) = await store.list_plans(db, organization_id)
    return plan


async def authenticate(db: Database, secret: str | None) -> Principal:
    """One indexed lookup joining the organisation's plan; revoked and unknown look alike."""
    if not secret:
        raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    key_hash = key_hash_of(secret)
    if key_hash is None:
        raise Unauthenticated("the API key is not valid")
    principal = await store.principal_for_hash(db, key_hash)
    if principal is None:
        raise Unauthenticated("the API key is not valid or has been revoked")
    return principal


async def revoke_key(db: Database, key_id: str) -> KeyRecord:
    """Revoking twice is harmless: the first revocation time is kept."""
    record = await store.revoke(db, key_id, clock.now())
    if record is None:
        raise NotFound(f"key {key_id} not found")
    return record


async def revoked_among(db: Database, key_ids: Iterable[str]) -> set[str]:
    """Which of `key_ids` no longer authenticate (revoked or gone), in one indexed read."""
    wanted = set(key_ids)
    return wanted - await store.live_among(db, wanted) if wanted else set()


OnRevoked = Callable[[], Awaitable[object]]


class KeyWatch:
    """This process's long-lived connections (WebSockets, SSE) by key: one indexed read per
    interval covers them all, so a revoked key's connections end within one interval."""

    def __init__(self, db: Database, interval: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self._watched: dict[object, tuple[str, OnRevoked]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, key_id: str, on_revoked: OnRevoked) -> Callable[[], None]:
        """Call `on_revoked` once the key is found revoked; the result stops watching.
        The poll runs only while something is watched, so an idle process reads nothing."""
        token = object()
        self._watched[token] = (key_id, on_revoked)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        return lambda: self._forget(token)

    def _forget(self, token: object) -> None:
        self._watched.pop(token, None)

    async def _poll(self) -> None:
        while self._watched:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as error:  # a database hiccup must not end the watch for good
                log_failure(log, error, "revoked-key check failed; retrying next interval")

    async def check(self) -> None:
        watched = list(self._watched.items())
        revoked = await revoked_among(self.db, {key_id for _, (key_id, _) in watched})
        for token, (key_id, on_revoked) in watched:
            if key_id in revoked and self._watched.pop(token, None) is not None:
                try:
                    await on_revoked()
                except Exception:  # one connection failing to close must not spare the rest
                    log.warning("ending a revoked key's connection failed", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def key_watch_of(db: Database, interval: float | None = None) -> KeyWatch:
    """The process's one `KeyWatch` of `db`; `interval` (the server's setting) applies to all."""
    watch = db.part(KeyWatch)
    if interval is not None:
        watch.interval = interval
    return watch
