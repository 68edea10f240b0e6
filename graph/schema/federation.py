"""The Apollo Federation 2 build of the schema, for `SESSIONGRAPH_FEDERATION=true`.

`Session` and `Event` are declared once, in `graph/schema/types.py`, without federation
directives: the plain schema (and `schema.graphql`) must not change when federation is
off. Strawberry finds entities by the `@key` directives on a type's definition while the
schema is built, and prints directives from the definition each time the SDL is printed;
so the keys are put on the definitions only while the federated schema is being built,
and the federated schema's own GraphQL types then point at keyed copies of the
definitions, which only its printer (`_service { sdl }`) reads.

`_entities` answers like `Query.node`: the same scoped lookups, so an id of another
organisation, a missing id and a malformed id all resolve to null. A representation that
names no entity type, or has no string `id`, is the caller's mistake (`BAD_USER_INPUT`).
Each representation is one node returned, so the operation's node budget is applied to
all of them together, and at most a page's worth (100) are resolved per call.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import strawberry
from graphql import DocumentNode, GraphQLError
from strawberry.federation.schema_directives import Key
from strawberry.types import Info

from db import events as event_ops
from db import sessions as session_ops
from graph.framework import (
    DEFINITION_BACKREF,
    FederationAny,
    StrawberryObjectDefinition,
    core_schema,
    get_object_definition,
    raw_info,
)
from graph.plan.limits import Limits, limit_error, node_count
from graph.plan.shape import shape_of
from graph.schema.build import Schema
from graph.schema.context import Context
from graph.schema.types import Event, Session

# The entity types and the one key each is referenced by.
ENTITIES: dict[str, type[Session] | type[Event]] = {"Session": Session, "Event": Event}
KEY_FIELDS = "id"
# The federation spec version the subgraph links (`@link(url: ".../federation/v2.5")`):
# the oldest one with everything used here, so older gateways compose it too.
FEDERATION_VERSION: Final = "2.5"


@dataclass(frozen=True, slots=True)
class Reference:
    """One representation, checked: the entity type's name and the id asked for."""

    typename: str
    id: str


class FederatedSchema(Schema, strawberry.federation.Schema):
    """The server's schema (codes, limits, timeout) plus `_service` and `_entities`."""

    async def entities_resolver(  # type: ignore[override]
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Strawberry's resolver would look each one up on its own and turn a bad
        `__typename` into an internal error; this one checks the representations first,
        spends the node budget, and reads the sessions in one statement."""
        references = [_reference(value, index) for index, value in enumerate(representations)]
        _check_budget(info, len(references), self.limits)
        found = await resolve_references(info.context, references)
        return found  # type: ignore[return-value]


def _reference(value: Any, index: int) -> Reference:
    if not isinstance(value, Mapping):
        raise _bad_representation(index, "must be an object")
    typename = value.get("__typename")
    if typename not in ENTITIES:
        raise _bad_representation(
            index, f"has __typename {typename!r}; expected one of {', '.join(ENTITIES)}"
        )
    entity_id = value.get(KEY_FIELDS)
    if not isinstance(entity_id, str):
        raise _bad_representation(index, f"needs a string {KEY_FIELDS!r} (the @key)")
    return Reference(typename, entity_id)


def _bad_representation(index: int, problem: str) -> GraphQLError:
    return GraphQLError(
        f"representations[{index}] {problem}",
        extensions={"code": "BAD_USER_INPUT", "field": "representations"},
    )


def _check_budget(info: Info, count: int, limits: Limits) -> None:
    """The validation-time budget counted one entity; here it is known how many there are.

    The whole operation's count stands for each entity's (an upper bound), so a gateway's
    `_entities` fetch costs what `sessions(first: N)` with the same selection would.
    """
    if count > limits.max_page:
        raise limit_error(
            "pageSize",
            limits.max_page,
            f"at most {limits.max_page} representations per request, got {count} (limit: pageSize)",
            field="representations",
        )
    raw = raw_info(info)
    document = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    shape = shape_of(raw.schema, document, raw.operation)
    per_entity = 1 + (node_count(shape, info.variable_values, literal_only=False) or 0)
    total = count * per_entity
    if total > limits.max_nodes:
        raise limit_error(
            "nodes",
            limits.max_nodes,
            f"the operation may return {total} nodes, more than the {limits.max_nodes} "
            "allowed (limit: nodes); ask for fewer entities or smaller pages",
        )


async def resolve_references(
    context: Context, references: Sequence[Reference]
) -> list[Session | Event | None]:
    """In the order asked; null wherever `Query.node` would answer null."""
    session_ids = [r.id for r in references if r.typename == "Session"]
    sessions = (
        await session_ops.sessions_by_id(context.db, context.principal, session_ids)
        if session_ids
        else {}
    )
    results: list[Session | Event | None] = []
    for reference in references:
        if reference.typename == "Session":
            record = sessions.get(reference.id)
            results.append(Session.from_record(record) if record is not None else None)
        else:
            event = await event_ops.find_event(context.db, context.principal, reference.id)
            results.append(Event.from_record(event) if event is not None else None)
    return results


@contextmanager
def _keyed_definitions() -> Iterator[None]:
    """The entity types carry `@key` while, and only while, the block runs."""
    definitions = [_definition(cls) for cls in ENTITIES.values()]
    saved = [definition.directives for definition in definitions]
    try:
        for definition in definitions:
            definition.directives = _with_key(definition.directives)
        yield
    finally:
        for definition, directives in zip(definitions, saved, strict=True):
            definition.directives = directives


def _definition(cls: type) -> StrawberryObjectDefinition:
    return get_object_definition(cls, strict=True)


def _with_key(directives: Sequence[object] | None) -> list[object]:
    return [*(directives or ()), Key(fields=KEY_FIELDS)]  # type: ignore[arg-type]


def _print_keys(schema: FederatedSchema) -> None:
    """Point the federated schema's entity types at keyed copies of their definitions."""
    backref = DEFINITION_BACKREF
    for name in ENTITIES:
        graphql_type = core_schema(schema).get_type(name)
        assert graphql_type is not None
        keyed = copy.copy(graphql_type.extensions[backref])
        keyed.directives = _with_key(keyed.directives)
        graphql_type.extensions = {**graphql_type.extensions, backref: keyed}


def federated_schema(**schema_arguments: Any) -> FederatedSchema:
    """`FederatedSchema(**schema_arguments)`, built with the entities keyed."""
    with _keyed_definitions():
        schema = FederatedSchema(federation_version=FEDERATION_VERSION, **schema_arguments)
    _print_keys(schema)
    return schema
