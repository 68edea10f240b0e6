"""API keys and the organisations they belong to.

Keys are 160 random bits, so a fast SHA-256 is a safe way to store them (a slow password
hash buys nothing against a key nobody can guess) and lets every request look its key up
by an index.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock
from db.errors import InvalidInput, NotFound, Unauthenticated
from db.ids import new_key_id
from db.models import api_keys, organizations
from db.records import KeyRecord, MappingRow, Plan, Principal
from db.store.engine import Database
from db.store.outages import log_failure

log = logging.getLogger("sessiongraph.keys")

KEY_PREFIX = "sgk_"
REVOKED_MESSAGE = "the API key was revoked"
DEFAULT_REVOCATION_CHECK_SECONDS = 5.0
DEFAULT_PLAN = Plan(name="Standard", max_sessions=1000, max_requests_per_minute=600)
_MAX_NAME = 255


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(value: str, field: str) -> str:
    if not value or len(value) > _MAX_NAME or not value.isprintable() or value != value.strip():
        raise InvalidInput(f"{field} must be 1-{_MAX_NAME} printable characters", field=field)
    return value


async def ensure_organization(
    conn: AsyncConnection, organization_id: str, plan: Plan = DEFAULT_PLAN
) -> None:
    exists = await conn.scalar(
        sa.select(organizations.c.id).where(organizations.c.id == organization_id)
    )
    if exists is None:
        await conn.execute(
            organizations.insert().values(
                id=organization_id,
                plan_name=plan.name,
                max_sessions=plan.max_sessions,
                max_requests_per_minute=plan.max_requests_per_minute,
                created_at=clock.now(),
            )
        )


async def create_key(
    db: Database, organization_id: str, user_id: str, *, plan: Plan = DEFAULT_PLAN
) -> tuple[KeyRecord, str]:
    """Return the record and the secret; the secret is shown once and never stored."""
    check_name(organization_id, "org")
    check_name(user_id, "user")
    secret = KEY_PREFIX + secrets.token_hex(20)
    row = {
        "id": new_key_id(),
        "organization_id": organization_id,
        "user_id": user_id,
        "prefix": secret[:12],
        "key_hash": hash_key(secret),
        "created_at": clock.now(),
        "revoked_at": None,
    }
    async with db.write() as conn:
        await ensure_organization(conn, organization_id, plan)
        await conn.execute(api_keys.insert().values(row))
    return KeyRecord.from_row(MappingRow(row)), secret


async def authenticate(db: Database, secret: str | None) -> Principal:
    """One indexed lookup joining the organisation's plan; revoked and unknown look alike."""
    if not secret:
        raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    key_hash = key_hash_of(secret)
    if key_hash is None:
        raise Unauthenticated("the API key is not valid")
    principal = await principal_for_hash(db, key_hash)
    if principal is None:
        raise Unauthenticated("the API key is not valid or has been revoked")
    return principal


# The caller of a live key, with its organisation's plan. Every request runs this, so it
# runs on the raw driver (`db/store/driver.py`); planned reads join the same tables and conditions
# (db/store/read_sql.py), so that for them the key check and the answer are one statement.
PRINCIPAL_COLUMNS = (
    "k.id, k.organization_id, k.user_id, o.plan_name, o.max_sessions, o.max_requests_per_minute"
)
KEY_SOURCE = "api_keys k JOIN organizations o ON o.id = k.organization_id"


def live_key(placeholder: str) -> str:
    return f"k.key_hash = {placeholder} AND k.revoked_at IS NULL"


def principal_from_row(row: Sequence[Any]) -> Principal:
    """A row that starts with `PRINCIPAL_COLUMNS`."""
    key_id, organization_id, user_id, plan_name, max_sessions, max_requests = row[:6]
    return Principal(key_id, organization_id, user_id, Plan(plan_name, max_sessions, max_requests))


def key_hash_of(secret: str | None) -> str | None:
    """The hash to look a presented key up by; None for what cannot be a key at all."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 128:
        return None
    return hash_key(secret)


# By engine (is it SQLite?): the placeholders are numbered in each engine's own way.
AUTHENTICATE = {
    sqlite: f"SELECT {PRINCIPAL_COLUMNS} FROM {KEY_SOURCE} WHERE {live_key(mark)}"
    for sqlite, mark in ((True, "?1"), (False, "$1"))
}


async def principal_for_hash(db: Database, key_hash: str) -> Principal | None:
    row = await db.lean.fetch_row(AUTHENTICATE[db.is_sqlite], (key_hash,))
    return principal_from_row(row) if row is not None else None


async def list_keys(db: Database) -> list[KeyRecord]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return [KeyRecord.from_row(r) for r in rows]


async def has_keys(db: Database) -> bool:
    async with db.read() as conn:
        return (await conn.scalar(sa.select(api_keys.c.id).limit(1))) is not None


async def revoke_key(db: Database, key_id: str) -> KeyRecord:
    """Revoking twice is harmless: the first revocation time is kept."""
    async with db.write() as conn:
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        )
        row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound(f"key {key_id} not found")
    return KeyRecord.from_row(row)


async def revoked_among(db: Database, key_ids: Iterable[str]) -> set[str]:
    """Which of `key_ids` no longer authenticate (revoked or gone), in one indexed read.

    For connections that outlive a request (WebSockets, SSE streams): `KeyWatch` polls
    this for all of a process's live connections' keys every few seconds and ends those it
    returns, which bounds how long a revoked key keeps a connection open to one interval.
    """
    wanted = set(key_ids)
    if not wanted:
        return set()
    async with db.read() as conn:
        active = await conn.scalars(
            sa.select(api_keys.c.id).where(
                api_keys.c.id.in_(sorted(wanted)), api_keys.c.revoked_at.is_(None)
            )
        )
        return wanted - set(active)


OnRevoked = Callable[[], Awaitable[object]]


class KeyWatch:
    """Every connection of this process that outlives a request, by the key it uses.

    WebSockets and SSE streams register here, so one indexed read per interval
    (`revoked_among`) covers both transports and every connection, and a revoked key's
    connections all end within one interval, whichever transport they use.
    """

    def __init__(self, db: Database, interval: float = DEFAULT_REVOCATION_CHECK_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self._watched: dict[object, tuple[str, OnRevoked]] = {}
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._watched)

    def watch(self, key_id: str, on_revoked: OnRevoked) -> Callable[[], None]:
        """Call `on_revoked` once the key is found revoked; the result stops watching.

        The polling task runs only while something is watched, so an idle process
        reads nothing.
        """
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
        """One round: end every watched connection whose key no longer authenticates."""
        watched = list(self._watched.items())
        revoked = await revoked_among(self.db, {key_id for _, (key_id, _) in watched})
        for token, (key_id, on_revoked) in watched:
            if key_id in revoked and self._watched.pop(token, None) is not None:
                try:
                    await on_revoked()
                except Exception:  # one connection failing to close must not spare the rest
                    log.warning("ending a revoked key's connection failed", exc_info=True)

    async def stop(self) -> None:
        """Shutdown: no more checks (connections are being closed anyway)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


_WATCHES: weakref.WeakKeyDictionary[Database, KeyWatch] = weakref.WeakKeyDictionary()


def key_watch_of(db: Database, interval: float | None = None) -> KeyWatch:
    """The one `KeyWatch` of a database in this process, created on first use.

    A caller that names `interval` sets it for every connection watched (the server
    configures one interval, `SESSIONGRAPH_WS_REVOCATION_CHECK_SECONDS`, for all).
    """
    watch = _WATCHES.get(db)
    if watch is None:
        watch = _WATCHES[db] = KeyWatch(db)
    if interval is not None:
        watch.interval = interval
    return watch
