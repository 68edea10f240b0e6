"""Query root: reads go straight to `db` operations scoped by the caller."""

import strawberry
from strawberry.types import Info

from db import events as event_ops
from db import sessions as session_ops
from db.ids import EVENT_PREFIX, SESSION_PREFIX
from graph.schema.enums import SessionOrder
from graph.schema.inputs import SessionFilter
from graph.schema.types import Event, Node, PageInfo, Session, SessionConnection


@strawberry.type
class Query:
    @strawberry.field(description="A session by id; null when it does not exist for this key.")
    async def session(self, info: Info, id: strawberry.ID) -> Session | None:
        ctx = info.context
        record = await session_ops.find_session(ctx.db, ctx.principal, str(id))
        return Session.from_record(record) if record is not None else None

    @strawberry.field(description="The organisation's sessions, newest first by default.")
    async def sessions(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: SessionFilter | None = None,
        order_by: SessionOrder = SessionOrder.CREATED_AT_DESC,
    ) -> SessionConnection:
        ctx = info.context
        statuses = None
        if filter is not None and filter.status is not None:
            statuses = tuple(s.value for s in filter.status)
        user_id = filter.user_id if filter is not None else None
        page = await session_ops.list_sessions(
            ctx.db,
            ctx.principal,
            limit=20 if first is None else first,
            after=after,
            statuses=statuses,
            user_id=user_id,
            newest_first=order_by is SessionOrder.CREATED_AT_DESC,
        )
        items = page.items
        return SessionConnection(
            nodes=[Session.from_record(r) for r in items],
            page_info=PageInfo(
                has_next_page=page.has_more,
                has_previous_page=after is not None,
                start_cursor=session_ops.cursor_of(items[0]) if items else None,
                end_cursor=session_ops.cursor_of(items[-1]) if items else None,
            ),
            statuses=statuses,
            user_id=user_id,
        )

    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        ctx = info.context
        raw = str(id)
        if raw.startswith(SESSION_PREFIX):
            session = await session_ops.find_session(ctx.db, ctx.principal, raw)
            return Session.from_record(session) if session is not None else None
        if raw.startswith(EVENT_PREFIX):
            event = await event_ops.find_event(ctx.db, ctx.principal, raw)
            return Event.from_record(event) if event is not None else None
        return None
