"""Per-request context: who is calling, the database, and this request's DataLoaders."""

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
        # Per request: batching spans one operation, caching never outlives it. The loader
        # holds the database, not the context, which would make every request's results a
        # reference cycle that only the garbage collector frees.
        self.events = DataLoader(load_fn=partial(load_events, self.db))


async def load_events(db: Database, keys: Sequence[EventKey]) -> list[list[EventRecord]]:
    found = await events_in_windows(db, keys)
    return [found[key] for key in keys]
