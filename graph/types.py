"""Output types: thin views over `db` records, built once per row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import strawberry
from strawberry.types import Info
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.utils.str_converters import to_camel_case

from db.cursors import decode_event_cursor, encode_event_cursor
from db.records import EventRecord, SessionRecord
from db.sessions import SessionPage, count_sessions, cursor_of
from db.windows import EventWindow, event_window
from graph.enums import EventType, SessionStatus
from graph.scalars import JSON, DateTime
from graph.selection import event_fields_read

if TYPE_CHECKING:
    from graph.context import Context

# Enum members by stored value: a dict lookup instead of `Enum.__call__` for every row
# (an unknown value still goes through the call, and fails as it would).
_EVENT_TYPES = {member.value: member for member in EventType}
_SESSION_STATUSES = {member.value: member for member in SessionStatus}


@strawberry.interface(description="An object with a globally unique id (`sess_…`, `evt_…`).")
class Node:
    id: strawberry.ID


# `strawberry.cast` marks an object by setting this attribute on it. As a class attribute
# of the types that implement `Node` (the ones Strawberry checks with `is_type_of` on every
# object, every row of a page), "not cast" becomes a plain read instead of a failed lookup
# and a caught `AttributeError`; a cast object still carries its own value.
setattr(Node, TYPE_CAST_ATTRIBUTE, None)


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
            type=_EVENT_TYPES.get(record.type) or EventType(record.type),
            stage=record.stage,
            message=record.message,
            payload=record.payload,
            created_at=record.created_at,
        )


class LoadedEvent(Event):
    """An `Event` holding only the fields its query reads (see `graph/selection.py`).

    `db.hot_reads.event_fields_in_windows` builds these straight from the rows, with the
    loaded fields as the attribute dictionary: no dataclass `__init__`, no record in
    between. A field that was not loaded raises `AttributeError` if read, rather than
    showing a wrong value.
    """

    # Stored event types as members, by lookup instead of `Enum.__call__` for every row.
    row_values: ClassVar[dict[str, tuple[dict[Any, Any], Callable[[Any], Any]]]] = {
        "type": (_EVENT_TYPES, EventType)
    }


_new_object = object.__new__


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
        """The two dataclass `__init__`s as dicts, like `Session.from_record`: one per session."""
        page_info = _new_object(PageInfo)
        page_info.__dict__ = {
            "has_next_page": window.has_next_page,
            "has_previous_page": window.has_previous_page,
            "start_cursor": encode_event_cursor(nodes[0].sequence) if nodes else None,
            "end_cursor": encode_event_cursor(nodes[-1].sequence) if nodes else None,
        }
        connection = _new_object(cls)
        connection.__dict__ = {"nodes": nodes, "page_info": page_info, "total_count": total}
        return connection


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
        """The dataclass `__init__` with 17 keywords, as one dict: a page builds 100 of these."""
        session = _new_object(cls)
        session.__dict__ = {
            "id": record.id,
            "organization_id": record.organization_id,
            "user_id": record.user_id,
            "status": _SESSION_STATUSES.get(record.status) or SessionStatus(record.status),
            "assembly_state": record.assembly_state,
            "catalog_version": record.catalog_version,
            "plan": record.plan,
            "prd": record.prd,
            "product_object": record.product_object,
            "product_object_hash": record.product_object_hash,
            "schema_version": record.schema_version,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "expires_at": record.expires_at,
            "event_count": record.event_count,
            "record": record,
        }
        return session

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
    ) -> EventConnection | Awaitable[EventConnection]:
        """Answers at once when the page is loaded already (see `graph/prefetch.py`).

        A page of sessions then completes without a coroutine, a task and a wait per
        session; a session read alone loads its events as before.
        """
        window = events_window(self.record, first=first, after=after, last=last, before=before)
        if window.is_empty:
            return EventConnection.build([], window, self.record.event_count)
        raw = info._raw_info
        fields = event_fields_read(raw.field_nodes, raw.fragments, event_field_names())
        loaded = load_events(info.context, self.record.id, window, fields)
        if loaded.done() and not loaded.cancelled() and loaded.exception() is None:
            return _event_connection(loaded.result(), fields, window, self.record.event_count)
        return _event_connection_later(loaded, fields, window, self.record.event_count)


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


def load_events(
    context: Context, session_id: str, window: EventWindow, fields: tuple[str, ...] | None
) -> asyncio.Future[Any]:
    """The request's load of one window: whole events, or `LoadedEvent`s of the fields read."""
    if fields is None:
        return context.events.load((session_id, window))  # type: ignore[return-value]
    return context.event_fields.load((session_id, window, fields))  # type: ignore[return-value]


def _event_connection(
    loaded: list[Any], fields: tuple[str, ...] | None, window: EventWindow, total: int
) -> EventConnection:
    nodes = [Event.from_record(r) for r in loaded] if fields is None else loaded
    return EventConnection.build(nodes, window, total)


async def _event_connection_later(
    loading: asyncio.Future[Any], fields: tuple[str, ...] | None, window: EventWindow, total: int
) -> EventConnection:
    return _event_connection(await loading, fields, window, total)


@cache
def event_field_names() -> dict[str, str]:
    """GraphQL name → Python name of `Event`'s fields (the schema camel-cases names)."""
    return _field_names(Event)


@cache
def session_field_names() -> dict[str, str]:
    """GraphQL name → Python name of `Session`'s fields."""
    return _field_names(Session)


def _field_names(cls: type) -> dict[str, str]:
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    return {
        field.graphql_name or to_camel_case(field.python_name): field.python_name
        for field in definition.fields
    }


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
