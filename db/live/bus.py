"""Hints that something changed: in-process always, across processes through a broker
(PostgreSQL LISTEN/NOTIFY, Redis pub/sub or core NATS). A hint carries no data: readers
fetch the rows after what they delivered, so a lost hint costs latency, never data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from db import clock

log = logging.getLogger("sessiongraph.bus")

HintKind = Literal["events", "created", "updated", "expired", "deleted"]
# How the bus's connections show in pg_stat_activity and to Redis and NATS.
APPLICATION_NAME = "sessiongraph-bus"
SESSION_KINDS: frozenset[str] = frozenset({"created", "updated", "expired", "deleted"})
_KINDS: frozenset[str] = SESSION_KINDS | {"events"}
_WIRE_KEYS = ("k", "s", "o", "n", "p")  # kind, session, organisation, sequence, origin


@dataclass(frozen=True, slots=True)
class Hint:
    """`kind` happened to `session_id`; for `events`, `sequence` is the newest committed one."""

    kind: HintKind
    session_id: str
    organization_id: str | None
    sequence: int = 0

    def encode(self, origin: str) -> str:
        values = (self.kind, self.session_id, self.organization_id, self.sequence, origin)
        return json.dumps(dict(zip(_WIRE_KEYS, values, strict=True)), separators=(",", ":"))

    @staticmethod
    def decode(text: str) -> tuple[Hint, str] | None:
        """The hint and the process that sent it; None for anything malformed."""
        try:
            data = json.loads(text)
            kind, session_id, organization, sequence, origin = (data[k] for k in _WIRE_KEYS)
        except (ValueError, TypeError, KeyError):
            return None
        ids_ok = isinstance(session_id, str) and isinstance(organization, str | None)
        if kind not in _KINDS or not ids_ok or not isinstance(sequence, int):
            return None
        return Hint(kind, session_id, organization, sequence), str(origin)


OnHint = Callable[[Hint], None]
OnResync = Callable[[datetime], None]  # hints from this moment on may have been missed


class Bus:
    """In-process fan-out: `publish` calls every listener at once, in this event loop."""

    degraded = False  # a broker cannot be reached: listeners poll the log meanwhile

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
    def state(self) -> str:
        return "degraded (polling)" if self.degraded else "ok"

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
        for on_resync in [r for _, r in self._listeners if r is not None]:
            try:
                on_resync(since)
            except Exception:
                log.exception("resync listener failed")

    async def start(self) -> None: ...  # nothing to connect in one process

    async def stop(self) -> None: ...  # nothing to disconnect in one process


class BrokerBus(Bus, ABC):
    """Hints across processes through a broker at `url`, reconnecting by itself: outgoing
    hints are coalesced (newest per kind and session) and kept across a dropped link; our own
    come back and are ignored by origin. While the broker is unreachable the bus is degraded:
    listeners resync every `poll_interval`. Subclasses supply the link (their client's own
    reconnect off, so a drop ends it), call `_received` per message, `_link_lost` on a drop."""

    kind = "broker"  # names the backend in logs and /readyz
    max_reconnect_delay = 5.0
    keepalive_interval = 10.0  # idle seconds before the link is probed

    def __init__(
        self, url: str, *, reconnect_delay: float = 0.2, poll_interval: float = 1.0
    ) -> None:
        super().__init__()
        self.url = url
        self.origin = secrets.token_hex(8)
        self.reconnect_delay = reconnect_delay
        self.poll_interval = poll_interval
        self.reconnects = 0
        self.polls = 0
        self._outbox: dict[tuple[str, str], Hint] = {}
        self._wake = asyncio.Event()  # something to send, or the link was lost
        self._lost = False
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._open = False
        self._ready = asyncio.Event()
        # Last moment the link was known to work: an outage began no earlier than this.
        self.alive_at = clock.now()

    @property
    def connected(self) -> bool:
        """Whether hints from other processes can arrive."""
        return self._open and self._link_alive()

    def publish(self, hint: Hint) -> None:
        self._deliver(hint)
        if self._task is None:
            return  # not started: no other process can be listening through us
        key = (hint.kind, hint.session_id)
        self._outbox[key] = max(self._outbox.get(key, hint), hint, key=lambda h: h.sequence)
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sessiongraph-bus-{self.kind}")
            # Wait briefly for the first connection so early hints cross processes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        """Cancelled until done: a client library (or Python 3.11's `asyncio.timeout` when its
        deadline meets the cancel) may swallow one cancellation, and shutdown must not hang."""
        for task in (self._task, self._poller):
            while task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=1)
        self._task = self._poller = None
        self.degraded = False

    async def _run(self) -> None:
        delay = self.reconnect_delay
        first = True
        while True:
            self._lost = False
            try:
                await self._connect()
                self._open = True
                self._ready.set()
                delay = self.reconnect_delay
                if not first:
                    self.reconnects += 1
                if self.degraded:
                    self.degraded = False
                    if self._poller is not None:
                        self._poller.cancel()
                    log.info(
                        "bus: %s is back; live hints resume, readers catch up once more", self.kind
                    )
                    self._resync(self.alive_at)
                elif not first:
                    log.info("bus: %s reconnected; readers catch up from the database", self.kind)
                    self._resync(self.alive_at)
                first = False
                self.alive_at = clock.now()
                await self._pump()
            except Exception as error:
                self._degrade(error)
            finally:
                linked, self._open = self._open, False
                # Never fails, never hangs: a client stuck while closing must not stop the bus.
                with contextlib.suppress(Exception):
                    await asyncio.shield(asyncio.wait_for(self._disconnect(), 5))
            await asyncio.sleep(delay)
            if not linked:  # back off while connecting fails
                delay = min(delay * 2, self.max_reconnect_delay)

    def _degrade(self, error: BaseException) -> None:
        """The broker is unreachable: poll the log until it is back (said once)."""
        if self.degraded:
            log.debug("bus: %s still unreachable (%s)", self.kind, error)
            return
        self.degraded = True
        log.warning(
            "bus: %s unreachable (%s: %s); reading the database every %gs until it is back",
            self.kind,
            type(error).__name__,
            error,
            self.poll_interval,
        )
        self._poller = asyncio.create_task(self._poll(), name=f"sessiongraph-bus-poll-{self.kind}")

    async def _poll(self) -> None:
        """While degraded, listeners read after their positions as if a hint had come."""
        while True:
            await asyncio.sleep(self.poll_interval)
            self.polls += 1
            self._resync(self.alive_at)

    async def _pump(self) -> None:
        """Send queued hints; probe the connection when idle so a dead one is noticed."""
        while True:
            if self._outbox:
                batch = list(self._outbox.values())
                self._outbox.clear()
                try:
                    await self._send([h.encode(self.origin) for h in batch])
                except BaseException:
                    for hint in batch:  # keep them for the next connection
                        self._outbox.setdefault((hint.kind, hint.session_id), hint)
                    raise
                self.alive_at = clock.now()
                continue
            self._wake.clear()
            if not self._lost:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.keepalive_interval)
            if self._lost or not self._link_alive():
                raise OSError(f"{self.kind} connection closed")
            if not self._wake.is_set():
                async with asyncio.timeout(self.keepalive_interval):
                    await self._probe()
                self.alive_at = clock.now()

    def _link_lost(self) -> None:
        self._lost = True
        self._wake.set()

    def _received(self, payload: str | bytes) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        decoded = Hint.decode(text)
        if decoded is None:
            log.warning("bus: ignoring malformed hint %r", text[:200])
            return
        hint, origin = decoded
        self.alive_at = clock.now()
        if origin != self.origin:
            self._deliver(hint)

    @abstractmethod
    async def _connect(self) -> None: ...
    @abstractmethod
    async def _disconnect(self) -> None: ...  # also after a failed `_connect`
    @abstractmethod
    async def _send(self, payloads: list[str]) -> None: ...
    @abstractmethod
    async def _probe(self) -> None: ...
    @abstractmethod
    def _link_alive(self) -> bool: ...


class PostgresBus(BrokerBus):
    """LISTEN/NOTIFY on one dedicated asyncpg connection."""

    kind = "postgres"
    CHANNEL = "sessiongraph_hints"
    _conn: Any = None

    async def _connect(self) -> None:
        self._conn = conn = await asyncpg.connect(
            self.url, timeout=10, server_settings={"application_name": APPLICATION_NAME}
        )
        conn.add_termination_listener(lambda _c: self._link_lost())
        await conn.add_listener(self.CHANNEL, lambda _c, _pid, _ch, text: self._received(text))

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close(timeout=2)

    def _link_alive(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def _send(self, payloads: list[str]) -> None:
        await self._conn.execute(
            "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x", self.CHANNEL, payloads
        )

    async def _probe(self) -> None:
        await self._conn.execute("SELECT 1")


class RedisBus(BrokerBus):
    """Redis pub/sub (`redis://host:port/db`): one channel for every process's hints,
    subscribed on its own connection (Redis allows nothing else on it), published on a second."""

    kind = "redis"
    CHANNEL = "sessiongraph:hints"
    _client: Any = None
    _pubsub: Any = None
    _reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._client = Redis.from_url(
            self.url,
            socket_connect_timeout=5,
            socket_keepalive=True,
            client_name=APPLICATION_NAME,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(self.CHANNEL)
        # Connected only once Redis confirms the subscription: a catch-up read that ran
        # before it could miss a hint published in between, and nothing would repeat it.
        async with asyncio.timeout(5):
            confirmed = await self._pubsub.get_message(timeout=None)
        if not confirmed or confirmed.get("type") != "subscribe":
            raise ConnectionError(f"redis did not confirm the subscription: {confirmed!r}")
        await self._client.ping()  # the publishing connection works too
        self._reader = asyncio.create_task(self._read(self._pubsub), name="sessiongraph-bus-redis")

    async def _read(self, pubsub: Any) -> None:
        try:
            with contextlib.suppress(Exception):  # the subscription's connection is gone
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._received(message["data"])
                    elif message.get("type") == "pong":
                        self.alive_at = clock.now()
        finally:
            self._link_lost()  # so is the link

    async def _disconnect(self) -> None:
        reader, self._reader = self._reader, None
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if client is not None:
            await client.aclose()

    def _link_alive(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def _send(self, payloads: list[str]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for payload in payloads:
                pipe.publish(self.CHANNEL, payload)
            await pipe.execute()

    async def _probe(self) -> None:
        # A PING on the subscription's own connection proves it is alive (its PONG comes
        # back through `_read`); one on the publishing connection proves that one.
        await self._pubsub.ping()
        await self._client.ping()


class NatsBus(BrokerBus):
    """Core NATS (`nats://host:port`): no JetStream, since the database is the log."""

    kind = "nats"
    SUBJECT = "sessiongraph.hints"
    _nc: Any = None

    async def _connect(self) -> None:
        from nats.aio.client import Client

        async def closed() -> None:
            self._link_lost()

        async def error(problem: Exception) -> None:
            log.debug("bus: nats client: %s", problem)

        async def received(message: Any) -> None:
            self._received(message.data)

        self._nc = Client()
        await self._nc.connect(
            self.url,
            name=APPLICATION_NAME,
            allow_reconnect=False,
            # Two tries, then NoServersError (0 would mean "try forever" at connect).
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            connect_timeout=5,
            no_echo=True,  # our own hints are delivered locally already
            disconnected_cb=closed,
            closed_cb=closed,
            error_cb=error,
        )
        await self._nc.subscribe(self.SUBJECT, cb=received)
        await self._nc.flush(timeout=5)

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            await nc.close()

    def _link_alive(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    async def _send(self, payloads: list[str]) -> None:
        for payload in payloads:
            await self._nc.publish(self.SUBJECT, payload.encode())
        await self._nc.flush(timeout=5)

    async def _probe(self) -> None:
        await self._nc.flush(timeout=5)  # a PING answered by a PONG


def bus_for(
    url: Any, *, listen_url: Any = None, bus_url: str | None = None, poll_interval: float = 1.0
) -> Bus:
    """Unset `bus_url`: LISTEN/NOTIFY on PostgreSQL, in-memory on SQLite. `listen_url` keeps LISTEN
    off a pooler (PgBouncer in transaction mode lends a server connection per transaction)."""
    sqlite = url.get_backend_name() == "sqlite"
    choice = bus_kind(bus_url) if bus_url else ("memory" if sqlite else "postgres")
    if choice == "memory":
        return Bus()
    if choice == "postgres":
        if sqlite:
            raise ValueError("SESSIONGRAPH_BUS_URL=postgres needs a PostgreSQL database")
        dsn = (listen_url or url).set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresBus(dsn, poll_interval=poll_interval)
    broker = RedisBus if choice == "redis" else NatsBus
    return broker(str(bus_url), poll_interval=poll_interval)


def bus_kind(bus_url: str) -> Literal["memory", "postgres", "redis", "nats"]:
    """Which bus a `SESSIONGRAPH_BUS_URL` names; ValueError for anything else."""
    text = bus_url.strip()
    if text in ("memory", "postgres", "postgresql"):
        return "postgres" if text.startswith("postgres") else "memory"
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme in ("redis", "rediss", "unix"):
        return "redis"
    if scheme in ("nats", "tls"):
        return "nats"
    raise ValueError(
        f"bus URL {bus_url!r}: expected memory, postgres, redis://host:port/db or nats://host:port"
    )
