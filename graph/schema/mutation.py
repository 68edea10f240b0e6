"""Mutation root: each field maps its input and calls one `db` operation."""

from datetime import timedelta

import strawberry
from strawberry.types import Info

from db import events as event_ops
from db import sessions as session_ops
from graph.schema.inputs import (
    AppendEventInput,
    CreateSessionInput,
    UpdateSessionInput,
    provided_fields,
)
from graph.schema.types import Event, Session


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a session owned by the key's organisation and user.")
    async def create_session(self, info: Info, input: CreateSessionInput) -> Session:
        ctx = info.context
        record = await session_ops.create_session(
            ctx.db,
            ctx.principal,
            provided_fields(input),
            ttl=timedelta(seconds=ctx.session_ttl_seconds),
        )
        return Session.from_record(record)

    @strawberry.mutation(description="Change a session: omitted fields are kept, nulls clear.")
    async def update_session(
        self, info: Info, id: strawberry.ID, input: UpdateSessionInput
    ) -> Session:
        ctx = info.context
        record = await session_ops.update_session(
            ctx.db, ctx.principal, str(id), provided_fields(input)
        )
        return Session.from_record(record)

    @strawberry.mutation(description="Delete a session and all its events; returns its id.")
    async def delete_session(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        ctx = info.context
        return strawberry.ID(await session_ops.delete_session(ctx.db, ctx.principal, str(id)))

    @strawberry.mutation(description="Append an event; the server assigns its sequence.")
    async def append_event(
        self, info: Info, session_id: strawberry.ID, input: AppendEventInput
    ) -> Event:
        ctx = info.context
        record = await event_ops.append_event(
            ctx.db,
            ctx.principal,
            str(session_id),
            type=input.type.value,
            stage=input.stage,
            message=input.message,
            payload=input.payload,
        )
        return Event.from_record(record)
