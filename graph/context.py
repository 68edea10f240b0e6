"""Per-request context: who is calling, the database, and this request's DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from strawberry.dataloader import DataLoader

from db.engine import Database
from db.events import events_in_windows
from db.hot_reads import event_fields_in_windows
from db.records import EventRecord, Principal
from db.windows import EventWindow
from graph.types import LoadedEvent

EventKey = tuple[str, EventWindow]
# A window and the event fields a query reads (see `graph/selection.py`).
EventFieldsKey = tuple[str, EventWindow, tuple[str, ...]]


@dataclass
class Context:
    db: Database
    principal: Principal
    session_ttl_seconds: int
    events: DataLoader[EventKey, list[EventRecord]] = field(init=False)
    event_fields: DataLoader[EventFieldsKey, list[LoadedEvent]] = field(init=False)

    def __post_init__(self) -> None:
        # Created per request: batching spans one operation, caching never outlives it.
        # The load functions hold the database, not the context: a loader holding its
        # context would make every request's results a reference cycle, freed only when
        # the garbage collector next walks the young generation.
        self.events = DataLoader(load_fn=partial(_load_events, self.db))
        self.event_fields = DataLoader(load_fn=partial(_load_event_fields, self.db))


async def _load_events(db: Database, keys: Sequence[EventKey]) -> list[list[EventRecord]]:
    found = await events_in_windows(db, keys)
    return [found[key] for key in keys]


async def _load_event_fields(
    db: Database, keys: Sequence[EventFieldsKey]
) -> list[list[LoadedEvent]]:
    """One statement per distinct set of fields (one set for a typical document)."""
    by_fields: dict[tuple[str, ...], list[tuple[str, EventWindow]]] = {}
    for session_id, window, fields in keys:
        by_fields.setdefault(fields, []).append((session_id, window))
    found: dict[tuple[str, EventWindow, tuple[str, ...]], list[LoadedEvent]] = {}
    for fields, windows in by_fields.items():
        rows = await event_fields_in_windows(db.lean, windows, fields, LoadedEvent)
        for (session_id, window), events in rows.items():
            found[(session_id, window, fields)] = events
    return [found[key] for key in keys]
