"""Output types: thin views over `db` records, built once per row."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from db.cursors import decode_event_cursor, encode_event_cursor
from db.records import EventRecord, SessionRecord
from db.sessions import SessionPage, count_sessions, cursor_of
from db.windows import EventWindow, event_window
from graph.schema.enums import EventType, SessionStatus
from graph.schema.scalars import JSON, DateTime

if TYPE_CHECKING:
    from graph.schema.context import Context


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
        return cls(
            id=strawberry.ID(record.id),
            sequence=record.sequence,
            session_id=strawberry.ID(record.session_id),
            organization_id=record.organization_id,
            user_id=record.user_id,
            type=EventType(record.type),
            stage=record.stage,
            message=record.message,
            payload=record.payload,
            created_at=record.created_at,
        )


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
        return cls(
            id=strawberry.ID(record.id),
            organization_id=record.organization_id,
            user_id=record.user_id,
            status=SessionStatus(record.status),
            assembly_state=record.assembly_state,
            catalog_version=record.catalog_version,
            plan=record.plan,
            prd=record.prd,
            product_object=record.product_object,
            product_object_hash=record.product_object_hash,
            schema_version=record.schema_version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            expires_at=record.expires_at,
            event_count=record.event_count,
            record=record,
        )

    @strawberry.field(
        description="The session's events in sequence order (100 when unbounded).",
        graphql_type=EventConnection,
    )
    def events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Awaitable[EventConnection]:
        """Through the request's DataLoader: a page of sessions reads its events at once."""
        window = events_window(self.record, first=first, after=after, last=last, before=before)
        return _event_connection(info.context, self.record, window)


def events_window(
    record: SessionRecord,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> EventWindow:
    """The sequences `Session.events` shows for these arguments (raises on bad ones)."""
    return event_window(
        record.last_sequence,
        first=first,
        after=decode_event_cursor(after, field="after") if after is not None else None,
        last=last,
        before=decode_event_cursor(before, field="before") if before is not None else None,
    )


async def _event_connection(
    context: Context, record: SessionRecord, window: EventWindow
) -> EventConnection:
    loaded = [] if window.is_empty else await context.events.load((record.id, window))
    return EventConnection.build([Event.from_record(r) for r in loaded], window, record.event_count)


@strawberry.type
class SessionEdge:
    cursor: str
    node: Session


def _session_edges(root: SessionConnection) -> list[SessionEdge]:
    """Built only when selected, like `EventConnection.edges`."""
    return [SessionEdge(cursor=cursor_of(n.record), node=n) for n in root.nodes]


@dataclass(frozen=True, slots=True)
class SessionFilterValues:
    """The filters a page was read with, kept so `totalCount` can count the same rows."""

    statuses: tuple[str, ...] | None
    user_id: str | None


@strawberry.type(description="A page of sessions.")
class SessionConnection:
    edges: list[SessionEdge] = strawberry.field(resolver=_session_edges)
    nodes: list[Session]
    page_info: PageInfo
    filters: strawberry.Private[SessionFilterValues]

    @strawberry.field(description="How many sessions match the filter (one extra count query).")
    async def total_count(self, info: Info) -> int:
        return await count_sessions(
            info.context.db,
            info.context.principal,
            statuses=self.filters.statuses,
            user_id=self.filters.user_id,
        )

    @classmethod
    def build(
        cls, page: SessionPage, filters: SessionFilterValues, *, had_cursor: bool
    ) -> SessionConnection:
        items = page.items
        return cls(
            nodes=[Session.from_record(r) for r in items],
            page_info=PageInfo(
                has_next_page=page.has_more,
                has_previous_page=had_cursor,
                start_cursor=cursor_of(items[0]) if items else None,
                end_cursor=cursor_of(items[-1]) if items else None,
            ),
            filters=filters,
        )
