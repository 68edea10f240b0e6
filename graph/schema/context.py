"""Per-request context: who is calling, the database, and this request's DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from strawberry.dataloader import DataLoader

from db.events import events_in_windows
from db.records import EventRecord, Principal
from db.store.engine import Database
from db.windows import EventWindow

EventKey = tuple[str, EventWindow]


@dataclass
class Context:
    db: Database
    principal: Principal
    session_ttl_seconds: int
    events: DataLoader[EventKey, list[EventRecord]] = field(init=False)

    def __post_init__(self) -> None:
        # Created per request: batching spans one operation, caching never outlives it.
        # The load functions hold the database, not the context: a loader holding its
        # context would make every request's results a reference cycle, freed only when
        # the garbage collector next walks the young generation.
        self.events = DataLoader(load_fn=partial(_load_events, self.db))


async def _load_events(db: Database, keys: Sequence[EventKey]) -> list[list[EventRecord]]:
    found = await events_in_windows(db, keys)
    return [found[key] for key in keys]
