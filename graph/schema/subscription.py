"""Subscription root: live views over `db.live.feeds`, scoped by the caller like every read.
Scope and arguments are checked before a stream is returned, so a foreign or missing session
is an `error` message (`NOT_FOUND`) before anything is streamed."""

from collections.abc import AsyncGenerator, AsyncIterable
from contextlib import closing
from enum import Enum

import strawberry
from strawberry.types import Info

from db import sessions as session_ops
from db.errors import InvalidInput, NotFound
from db.live.feeds import Feeds, feeds_of
from graph.live.fanout import EventStream
from graph.schema.types import Event, Session


@strawberry.enum(description="What happened to a session.")
class SessionUpdateKind(Enum):
    CREATED = "created"
    UPDATED = "updated"
    EXPIRED = "expired"
    DELETED = "deleted"


@strawberry.type(description="A change to a session; `session` is null once it is deleted.")
class SessionUpdate:
    kind: SessionUpdateKind
    session_id: strawberry.ID
    session: Session | None


async def _updates(
    feeds: Feeds, organization_id: str, session_id: str | None, known: tuple[int, str] | None
) -> AsyncGenerator[SessionUpdate, None]:
    with closing(feeds.updates(organization_id, session_id, known)) as reader:
        async for change in reader:
            yield SessionUpdate(
                kind=SessionUpdateKind(change.kind),
                session_id=strawberry.ID(change.session_id),
                session=Session.from_record(change.session) if change.session else None,
            )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Every stored event with a sequence above `afterSequence` (default 0), then each "
            "new one as it is committed: in order, no gap, no duplicate. Completes after the "
            "last event once the session is terminal; ends with a NOT_FOUND error if the "
            "session is deleted."
        )
    )
    async def session_events(
        self, info: Info, session_id: strawberry.ID, after_sequence: int | None = None
    ) -> AsyncIterable[Event]:
        ctx = info.context
        after = 0 if after_sequence is None else after_sequence
        if after < 0:
            raise InvalidInput(
                "afterSequence must be 0 or a positive sequence", field="afterSequence"
            )
        await session_ops.get_session(ctx.db, ctx.principal, str(session_id))
        feeds = feeds_of(ctx.db)
        return EventStream(lambda: feeds.events(str(session_id), after))

    @strawberry.subscription(
        description=(
            "The session each time it is created, updated, expired or deleted; every session "
            "of the caller's organisation when `sessionId` is omitted."
        )
    )
    async def session_updates(
        self, info: Info, session_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SessionUpdate, None]:
        ctx = info.context
        wanted = None if session_id is None else str(session_id)
        known = None
        if wanted is not None:
            found = await session_ops.find_session(ctx.db, ctx.principal, wanted)
            if found is None:
                raise NotFound(f"session {wanted} not found")
            known = (found.revision, found.status)
        return _updates(feeds_of(ctx.db), ctx.principal.organization_id, wanted, known)
