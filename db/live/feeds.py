"""Live reads of a session's log and of session changes, shared by every reader in a process.
A hint wakes the session's one `SessionFeed`, which reads after its readers' positions in one
read: a replay is just a reader further behind, so replay and live delivery are one path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from db import clock
from db import status as status_rules
from db.errors import Conflict, DomainError, NotFound
from db.live.bus import SESSION_KINDS, Hint
from db.records import EventRecord, SessionRecord
from db.store import live as store
from db.store import sessions as session_store
from db.store.engine import Database

log = logging.getLogger("sessiongraph.feeds")

PAGE = 500  # events read per position per round
HIGH_WATER = 1000  # a reader this far behind its consumer stops being fed...
LOW_WATER = 250  # ...until its consumer drains it to here; then it reads on from the database
RETRY_DELAY = 0.5  # after a failed read
# Catch-ups start this much before the outage: the clocks that stamp `updated_at` may differ.
CLOCK_SKEW = timedelta(seconds=5)
# How long an organisation-wide reader's `sent` remembers a session for catch-ups to skip.
SENT_MEMORY = 120.0

T = TypeVar("T")
State = tuple[int, str]  # a session's (revision, status)


class SessionDeleted(NotFound):
    """The watched session was deleted: the stream ends with this error."""


class Reader(Generic[T]):
    """A buffer one consumer iterates; the feed fills it and may end it."""

    __slots__ = ("_buffer", "_error", "_forget", "_ready", "finished")

    def __init__(self, forget: Callable[[Any], object]) -> None:
        self._buffer: deque[T] = deque()
        self.finished = False
        self._error: DomainError | None = None
        self._ready = asyncio.Event()  # set when there may be something to take
        self._forget = forget  # takes this reader off what feeds it

    def finish(self, error: DomainError | None = None) -> None:
        """End after what is buffered (with `error` raised last, when given)."""
        if not self.finished:
            self.finished = True
            self._error = error
            self._ready.set()

    def _taken(self) -> None: ...  # the consumer took an item

    def __aiter__(self) -> Reader[T]:
        return self

    async def __anext__(self) -> T:
        while not self._buffer and not self.finished:
            self._ready.clear()
            await self._ready.wait()
        if self._buffer:
            item = self._buffer.popleft()
            self._taken()
            return item
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        raise StopAsyncIteration

    def close(self) -> None:
        """The consumer is gone: stop feeding it."""
        self.finished = True
        self._buffer.clear()
        with contextlib.suppress(ValueError):  # closed already
            self._forget(self)


class EventReader(Reader[EventRecord]):
    """One consumer's place in one session's log: events in order, each exactly once."""

    __slots__ = ("_feed", "paused", "position")

    def __init__(self, feed: SessionFeed, after: int) -> None:
        super().__init__(feed.remove)
        self._feed = feed
        self.position = after  # newest sequence handed to this reader
        self.paused = False
        feed.readers.append(self)

    def offer(self, batch: Iterable[EventRecord]) -> None:
        """Take the events that directly follow `position`; skip what it already has."""
        for event in batch:
            if event.sequence == self.position + 1:
                self._buffer.append(event)
                self.position = event.sequence
        if len(self._buffer) >= HIGH_WATER:
            self.paused = True
        self._ready.set()

    def _taken(self) -> None:
        if self.paused and len(self._buffer) <= LOW_WATER:
            self.paused = False
            self._feed.poke()


@dataclass(frozen=True, slots=True)
class SessionChange:
    """`kind` is created, updated, expired or deleted; `session` is None when deleted."""

    kind: str
    session_id: str
    session: SessionRecord | None

    @property
    def state(self) -> State | None:
        return None if self.session is None else (self.session.revision, self.session.status)


class UpdateReader(Reader[SessionChange]):
    """Changes to one session, or to every session of one organisation; `known` (one
    session) and `sent` (organisation-wide) let a catch-up skip what was already sent."""

    __slots__ = ("_prune_at", "known", "organization_id", "sent", "session_id")

    def __init__(
        self, feeds: Feeds, organization_id: str, session_id: str | None, known: State | None
    ) -> None:
        super().__init__(feeds._updates.remove)
        self.organization_id = organization_id
        self.session_id = session_id
        self.known = known  # the state last sent
        self.sent: dict[str, tuple[State | None, float]] = {}  # id -> (state, when)
        self._prune_at = 64
        feeds._updates.append(self)

    def wants(self, hint: Hint) -> bool:
        return hint.organization_id == self.organization_id and (
            self.session_id is None or self.session_id == hint.session_id
        )

    def offer(self, change: SessionChange) -> None:
        if self.finished:
            return
        if len(self._buffer) >= HIGH_WATER:
            self.finish(Conflict("too many session updates are waiting; subscribe again"))
            return
        self._buffer.append(change)
        self._ready.set()
        if self.session_id is not None:
            self.known = change.state
            if change.kind == "deleted":
                self.finish()
            return
        now = time.monotonic()
        self.sent[change.session_id] = (change.state, now)
        if len(self.sent) > self._prune_at:
            self.sent = {k: v for k, v in self.sent.items() if v[1] > now - SENT_MEMORY}
            self._prune_at = max(64, 2 * len(self.sent))


class SessionFeed:
    """The readers of one session in this process and the one task that reads for them."""

    def __init__(self, feeds: Feeds, session_id: str) -> None:
        self.feeds = feeds
        self.session_id = session_id
        self.readers: list[EventReader] = []
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def remove(self, reader: EventReader) -> None:
        self.readers.remove(reader)  # ValueError on a second close, which `Reader.close` ignores
        if not self.readers:  # a feed is registered from its first reader to its last
            del self.feeds._feeds[self.session_id]
            self.stop()

    def poke(self) -> None:
        self._dirty.set()
        if self._task is None and self.readers:
            self._task = asyncio.create_task(self._run(), name=f"feed-{self.session_id}")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self) -> None:
        try:
            while self.readers:
                await self._dirty.wait()
                self._dirty.clear()
                try:
                    await self._round()
                except Exception:
                    log.exception("reading session %s for its live readers", self.session_id)
                    await asyncio.sleep(RETRY_DELAY)
                    self._dirty.set()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _round(self) -> None:
        wanting = [r for r in self.readers if not r.finished and not r.paused]
        if not wanting:
            return
        # Readers at the front first, so a long replay never holds up live delivery;
        # the one furthest behind pages forward in the same read.
        positions = sorted({max(r.position for r in wanting), min(r.position for r in wanting)})
        now = clock.now()
        row, batches = await store.read_log(self.feeds.db, self.session_id, positions, PAGE)
        self.feeds.reads += 1
        if row is None:
            for reader in list(self.readers):
                reader.finish(SessionDeleted(f"session {self.session_id} was deleted"))
            return
        expires_at = clock.as_utc(row.expires_at)
        before = sum(r.position for r in wanting)
        for batch in reversed(batches):
            if batch:
                for reader in wanting:
                    reader.offer(batch)
        progressed = sum(r.position for r in wanting) > before
        if status_rules.effective(row.status, expires_at, now) in status_rules.TERMINAL:
            for reader in self.readers:
                if reader.position >= row.last_sequence:
                    reader.finish()
        else:  # expiry changes the status without any write: read again when it happens
            if self._timer is not None:
                self._timer.cancel()
            delay = max((expires_at - clock.now()).total_seconds(), 0.0) + 0.01
            self._timer = asyncio.get_running_loop().call_later(delay, self.poke)
        behind = [r for r in self.readers if not r.finished and r.position < row.last_sequence]
        if any(not r.paused for r in behind):
            if progressed:
                self._dirty.set()
                await asyncio.sleep(0)  # let consumers run between pages
            else:  # the log is not readable up to its head yet: try again shortly
                asyncio.get_running_loop().call_later(RETRY_DELAY, self.poke)


class Feeds:
    """Every live reader of one database in this process, fed from the bus's hints."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reads = 0
        self._feeds: dict[str, SessionFeed] = {}
        self._updates: list[UpdateReader] = []
        # Hints, and catch-ups on what changed from a moment on (after missed hints).
        self._pending: deque[Hint | datetime] = deque()
        self._update_task: asyncio.Task[None] | None = None
        # When the last successful catch-up began: the next need not look further back.
        self._caught_up_at = datetime.min.replace(tzinfo=UTC)
        db.bus.add_listener(self._on_hint, self._on_resync)

    def events(self, session_id: str, after: int) -> EventReader:
        """A reader of the session's events above `after` (the caller checked access)."""
        feed = self._feeds.get(session_id)
        if feed is None:
            feed = self._feeds[session_id] = SessionFeed(self, session_id)
        reader = EventReader(feed, after)
        feed.poke()
        return reader

    def updates(
        self, organization_id: str, session_id: str | None, known: State | None = None
    ) -> UpdateReader:
        return UpdateReader(self, organization_id, session_id, known)

    def _on_hint(self, hint: Hint) -> None:
        feed = self._feeds.get(hint.session_id)
        # An `events` hint every reader is already past needs no read.
        if feed is not None and (
            hint.kind != "events"
            or any(not r.finished and r.position < hint.sequence for r in feed.readers)
        ):
            feed.poke()
        if hint.kind in SESSION_KINDS and any(r.wants(hint) for r in self._updates):
            self._queue_update(hint)

    def _queue_update(self, item: Hint | datetime) -> None:
        self._pending.append(item)
        if self._update_task is None:
            self._update_task = asyncio.create_task(self._deliver_updates())

    def _on_resync(self, since: datetime) -> None:
        """Hints since `since` may have been missed: every feed reads, update readers catch
        up. A degraded bus calls this every poll: a queued catch-up absorbs the next."""
        for feed in list(self._feeds.values()):
            feed.poke()
        if not self._updates:
            return
        for index, item in enumerate(self._pending):
            if isinstance(item, datetime):
                self._pending[index] = min(item, since)
                return
        self._queue_update(since)

    async def _deliver_updates(self) -> None:
        """In hint order; one read of the session per hint, whatever the number of readers."""
        try:
            while self._pending:
                hint = self._pending.popleft()
                if isinstance(hint, datetime):
                    if not await self._catch_up(hint):
                        self._pending.appendleft(hint)
                        await asyncio.sleep(RETRY_DELAY)
                    continue
                targets = [r for r in self._updates if r.wants(hint)]
                if not targets:
                    continue
                record = None
                if hint.kind != "deleted":
                    try:
                        record = await store.read_session(self.db, hint.session_id)
                    except Exception:
                        log.exception("reading session %s for its watchers", hint.session_id)
                        continue
                    if record is None or record.organization_id != hint.organization_id:
                        continue  # deleted meanwhile: its own hint follows
                change = SessionChange(hint.kind, hint.session_id, record)
                for reader in targets:
                    reader.offer(change)
        finally:
            self._update_task = None

    async def _catch_up(self, since: datetime) -> bool:
        """Give update readers what changed from `since` (or the previous catch-up, if later,
        less CLOCK_SKEW) on, except what each was already sent; False when the read failed."""
        readers = [r for r in self._updates if not r.finished]
        if not readers:
            return True
        began = clock.now()
        since = max(since, self._caught_up_at) - CLOCK_SKEW
        organizations = {r.organization_id for r in readers if r.session_id is None}
        watched = {r.session_id for r in readers if r.session_id is not None}
        try:
            changes = await changes_since(self.db, organizations, since)
            current = {sid: await store.read_session(self.db, sid) for sid in watched}
        except Exception:
            log.exception("catching up session updates after missed hints")
            return False
        self._caught_up_at = began
        for reader in readers:
            if reader.session_id is None:
                for organization_id, change in changes:
                    sent = reader.sent.get(change.session_id)
                    if organization_id != reader.organization_id or (
                        sent is not None and sent[0] == change.state
                    ):
                        continue
                    if change.kind == "created" and change.session_id in reader.sent:
                        # Created in the window, but this reader has heard of it already.
                        change = SessionChange("updated", change.session_id, change.session)
                    reader.offer(change)
                continue
            record = current.get(reader.session_id)
            if record is None or record.organization_id != reader.organization_id:
                reader.offer(SessionChange("deleted", reader.session_id, None))
            elif reader.known != (record.revision, record.status):
                expired = record.status == status_rules.EXPIRED and (
                    reader.known is None or reader.known[1] != status_rules.EXPIRED
                )
                kind = "expired" if expired else "updated"
                reader.offer(SessionChange(kind, record.id, record))
        return True

    def close(self) -> None:
        """Shutdown: every stream ends cleanly after what it already holds."""
        for feed in list(self._feeds.values()):
            for reader in list(feed.readers):
                reader.finish()
            feed.stop()
        for update in list(self._updates):
            update.finish()
        if self._update_task is not None:
            self._update_task.cancel()


async def changes_since(
    db: Database, organization_ids: set[str], since: datetime
) -> list[tuple[str | None, SessionChange]]:
    """(organisation, change) for what happened to its sessions from `since` on, in order."""
    if not organization_ids:
        return []
    found: list[tuple[datetime, str | None, SessionChange]] = []
    for record in await store.sessions_changed(db, organization_ids, since, clock.now()):
        if record.created_at >= since:
            kind, at = "created", record.updated_at
        elif record.status == status_rules.EXPIRED and record.expires_at >= since:
            kind, at = "expired", max(record.updated_at, record.expires_at)
        else:
            kind, at = "updated", record.updated_at
        found.append((at, record.organization_id, SessionChange(kind, record.id, record)))
    deleted = await session_store.deleted_since(db, organization_ids, since)
    found += [(at, org, SessionChange("deleted", sid, None)) for sid, org, at in deleted]
    found.sort(key=lambda f: f[0])
    return [(organization_id, change) for _, organization_id, change in found]


def feeds_of(db: Database) -> Feeds:
    return db.part(Feeds)
