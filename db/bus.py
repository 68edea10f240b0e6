"""Hints that something changed: in-process always, across processes on PostgreSQL.

A hint never carries data, only "session S has events up to N" or "session S was
created / updated / expired / deleted". Readers fetch rows from the database after what
they last delivered, so a lost or late hint costs latency, never data. That is what lets
the PostgreSQL bus be simple: one dedicated connection that LISTENs and NOTIFYs, and
that, after it drops, reconnects by itself and tells every reader to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from db import clock

log = logging.getLogger("sessiongraph.bus")

HintKind = Literal["events", "created", "updated", "expired", "deleted"]
# How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "sessiongraph-bus"
SESSION_KINDS: frozenset[str] = frozenset({"created", "updated", "expired", "deleted"})
_KINDS: frozenset[str] = SESSION_KINDS | {"events"}


@dataclass(frozen=True, slots=True)
class Hint:
    """`kind` happened to `session_id`; for `events`, `sequence` is the newest committed one."""

    kind: HintKind
    session_id: str
    organization_id: str | None
    sequence: int = 0

    def encode(self, origin: str) -> str:
        return json.dumps(
            {
                "k": self.kind,
                "s": self.session_id,
                "o": self.organization_id,
                "n": self.sequence,
                "p": origin,
            },
            separators=(",", ":"),
        )

    @staticmethod
    def decode(text: str) -> tuple[Hint, str] | None:
        """The hint and the process that sent it; None for anything malformed."""
        try:
            data = json.loads(text)
            kind, session_id, organization, sequence, origin = (
                data["k"],
                data["s"],
                data["o"],
                data["n"],
                data["p"],
            )
        except (ValueError, TypeError, KeyError):
            return None
        if (
            kind not in _KINDS
            or not isinstance(session_id, str)
            or not isinstance(sequence, int)
            or not (organization is None or isinstance(organization, str))
        ):
            return None
        return Hint(kind, session_id, organization, sequence), str(origin)


OnHint = Callable[[Hint], None]
# Called with the last moment the bus knew it was hearing every hint: anything from then
# on may have been missed.
OnResync = Callable[[datetime], None]


class Bus:
    """In-process fan-out: `publish` calls every listener at once, in this event loop."""

    def __init__(self) -> None:
        self._listeners: list[tuple[OnHint, OnResync | None]] = []

    def add_listener(
        self, on_hint: OnHint, on_resync: OnResync | None = None
    ) -> Callable[[], None]:
        """Register; `on_resync` runs when hints may have been missed. Returns the remover."""
        entry = (on_hint, on_resync)
        self._listeners.append(entry)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(entry)

        return remove

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    @property
    def connected(self) -> bool:
        """Whether hints from other processes can arrive (always true in one process)."""
        return True

    def publish(self, hint: Hint) -> None:
        """Called after the change is committed; never blocks and never fails the caller."""
        self._deliver(hint)

    def _deliver(self, hint: Hint) -> None:
        for on_hint, _ in list(self._listeners):
            try:
                on_hint(hint)
            except Exception:
                log.exception("hint listener failed")

    def _resync(self, since: datetime) -> None:
        for _, on_resync in list(self._listeners):
            if on_resync is None:
                continue
            try:
                on_resync(since)
            except Exception:
                log.exception("resync listener failed")

    async def start(self) -> None:
        """Nothing to connect in one process."""

    async def stop(self) -> None:
        """Nothing to disconnect in one process."""


class PostgresBus(Bus):
    """LISTEN/NOTIFY on one dedicated asyncpg connection, reconnecting by itself.

    Local listeners hear a hint at once; it is also queued for NOTIFY so other processes
    hear it. The queue coalesces (one pending `events` hint per session, with the newest
    sequence) and survives a dropped connection: it is sent after the reconnect. Our own
    notifications come back to us and are ignored by their origin token.
    """

    CHANNEL = "sessiongraph_hints"

    def __init__(
        self,
        dsn: str,
        *,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 5.0,
        keepalive_interval: float = 10.0,
    ) -> None:
        super().__init__()
        self.dsn = dsn
        self.origin = secrets.token_hex(8)
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.keepalive_interval = keepalive_interval
        self.reconnects = 0
        self._outbox: dict[tuple[str, str], Hint] = {}
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._ready = asyncio.Event()
        # Last moment the LISTEN connection was known to work (connected, a query
        # answered, a notification heard); an outage began no earlier than this.
        self.alive_at = clock.now()

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def server_pid(self) -> int | None:
        """The backend pid of the LISTEN connection (tests terminate it to prove recovery)."""
        return self._conn.get_server_pid() if self.connected else None

    def publish(self, hint: Hint) -> None:
        self._deliver(hint)
        if self._task is None:
            return  # not started: no other process can be listening through us
        key = (hint.kind, hint.session_id)
        queued = self._outbox.get(key)
        if queued is None or queued.sequence < hint.sequence:
            self._outbox[key] = hint
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sessiongraph-bus")
            # Wait briefly for the first connection so early hints cross processes.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._ready.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        import asyncpg

        delay = self.reconnect_delay
        first = True
        while True:
            try:
                conn = await asyncpg.connect(
                    self.dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
                )
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                log.warning("bus: cannot connect (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_delay)
                continue
            delay = self.reconnect_delay
            self._lost.clear()
            conn.add_termination_listener(lambda _c: self._lost.set())
            try:
                await conn.add_listener(self.CHANNEL, self._on_notify)
                self._conn = conn
                self._ready.set()
                if not first:
                    self.reconnects += 1
                    log.info("bus: reconnected; readers catch up from the database")
                    self._resync(self.alive_at)
                first = False
                self.alive_at = clock.now()
                await self._pump(conn)
            except Exception as error:
                log.warning("bus: connection lost (%s); reconnecting", error)
            finally:
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(self.reconnect_delay)

    async def _pump(self, conn: Any) -> None:
        """Send queued hints; probe the connection when idle so a dead one is noticed."""
        while True:
            if self._outbox:
                batch = list(self._outbox.values())
                self._outbox.clear()
                try:
                    await conn.execute(
                        "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x",
                        self.CHANNEL,
                        [h.encode(self.origin) for h in batch],
                    )
                except BaseException:
                    for hint in batch:  # keep them for the next connection
                        self._outbox.setdefault((hint.kind, hint.session_id), hint)
                    raise
                self.alive_at = clock.now()
                continue
            self._wake.clear()
            waiters = [
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self._lost.wait()),
            ]
            try:
                await asyncio.wait(
                    waiters, timeout=self.keepalive_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if self._lost.is_set() or conn.is_closed():
                raise OSError("LISTEN connection closed")
            if not self._wake.is_set():
                async with asyncio.timeout(self.keepalive_interval):
                    await conn.execute("SELECT 1")
                self.alive_at = clock.now()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        decoded = Hint.decode(payload)
        if decoded is None:
            log.warning("bus: ignoring malformed hint %r", payload[:200])
            return
        hint, origin = decoded
        self.alive_at = clock.now()
        if origin != self.origin:
            self._deliver(hint)


def bus_for(url: Any, *, listen_url: Any = None) -> Bus:
    """The bus a database URL calls for: LISTEN/NOTIFY on PostgreSQL, in-memory on SQLite.

    `listen_url` is where the LISTEN connection goes when it must bypass a pooler (PgBouncer
    in transaction mode hands a server connection to another client after each transaction,
    so a LISTEN would be lost); by default the database URL itself.
    """
    if url.get_backend_name() == "sqlite":
        return Bus()
    target = url if listen_url is None else listen_url
    dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresBus(dsn)
