"""Output types: thin views over `db` records, built once per row.

The stored fields are written out here (they are the public contract) and held to
db/fields.py by tests/graph/test_declared_fields.py; records are copied by that list.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from db.cursors import decode_event_cursor, encode_event_cursor
from db.fields import EVENT_FIELDS, SESSION_FIELDS, Field
from db.records import EventRecord, SessionRecord
from db.sessions import count_sessions, cursor_of
from db.windows import EventWindow, event_window
from graph.schema.enums import EventType, SessionStatus
from graph.schema.scalars import JSON, DateTime


@strawberry.interface(description="An object with a globally unique id (`sess_…`, `evt_…`).")
class Node:
    id: strawberry.ID


@strawberry.type(description="Relay pagination state of a connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One entry of a session's append-only log.")
class Event(Node):
    id: strawberry.ID
    sequence: int = strawberry.field(description="1, 2, 3… per session, gapless, in commit order.")
    session_id: strawberry.ID
    organization_id: str | None
    user_id: str
    type: EventType
    stage: str | None
    message: str | None
    payload: JSON | None
    created_at: DateTime

    @classmethod
    def from_record(cls, record: EventRecord) -> Event:
        return cls(**(_declared(record, EVENT_FIELDS) | {"type": EventType(record.type)}))


def _declared(record: EventRecord | SessionRecord, fields: tuple[Field, ...]) -> dict[str, Any]:
    """The record's declared fields by name (to Strawberry an `ID` is a plain string)."""
    return {f.name: getattr(record, f.name) for f in fields}


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


def _event_edges(root: EventConnection) -> list[EventEdge]:
    """Edges and their cursors are built only when selected: most clients read `nodes`."""
    return [EventEdge(cursor=encode_event_cursor(n.sequence), node=n) for n in root.nodes]


@strawberry.type(description="A page of a session's events in sequence order.")
class EventConnection:
    edges: list[EventEdge] = strawberry.field(resolver=_event_edges)
    nodes: list[Event]
    page_info: PageInfo
    total_count: int

    @classmethod
    def build(cls, nodes: list[Event], window: EventWindow, total: int) -> EventConnection:
        page_info = PageInfo(
            has_next_page=window.has_next_page,
            has_previous_page=window.has_previous_page,
            start_cursor=encode_event_cursor(nodes[0].sequence) if nodes else None,
            end_cursor=encode_event_cursor(nodes[-1].sequence) if nodes else None,
        )
        return cls(nodes=nodes, page_info=page_info, total_count=total)


@strawberry.type(description="One run of a product generator, owning an append-only event log.")
class Session(Node):
    id: strawberry.ID
    organization_id: str | None
    user_id: str
    status: SessionStatus
    assembly_state: JSON | None
    catalog_version: str | None
    plan: JSON | None
    prd: JSON | None
    product_object: JSON | None
    product_object_hash: str | None
    schema_version: str | None
    created_at: DateTime
    updated_at: DateTime
    expires_at: DateTime
    event_count: int = strawberry.field(description="How many events the session has.")
    record: strawberry.Private[SessionRecord]

    @classmethod
    def from_record(cls, record: SessionRecord) -> Session:
        status = SessionStatus(record.status)
        return cls(**(_declared(record, SESSION_FIELDS) | {"status": status}), record=record)

    @strawberry.field(description="The session's events in sequence order (100 when unbounded).")
    async def events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EventConnection:
        """Through the request's DataLoader: a page of sessions reads its events at once."""
        record = self.record
        window = event_window(
            record.last_sequence,
            first=first,
            after=decode_event_cursor(after, field="after") if after is not None else None,
            last=last,
            before=decode_event_cursor(before, field="before") if before is not None else None,
        )
        loaded = [] if window.is_empty else await info.context.events.load((record.id, window))
        return EventConnection.build(
            [Event.from_record(r) for r in loaded], window, record.event_count
        )


@strawberry.type
class SessionEdge:
    cursor: str
    node: Session


def _session_edges(root: SessionConnection) -> list[SessionEdge]:
    """Built only when selected, like `EventConnection.edges`."""
    return [SessionEdge(cursor=cursor_of(n.record), node=n) for n in root.nodes]


@strawberry.type(description="A page of sessions.")
class SessionConnection:
    edges: list[SessionEdge] = strawberry.field(resolver=_session_edges)
    nodes: list[Session]
    page_info: PageInfo
    # The filters the page was read with, so `totalCount` counts the same rows.
    statuses: strawberry.Private[tuple[str, ...] | None]
    user_id: strawberry.Private[str | None]

    @strawberry.field(description="How many sessions match the filter (one extra count query).")
    async def total_count(self, info: Info) -> int:
        context = info.context
        return await count_sessions(
            context.db, context.principal, statuses=self.statuses, user_id=self.user_id
        )
