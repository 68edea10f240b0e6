"""The Apollo Federation 2 build of the schema, for `SESSIONGRAPH_FEDERATION=true`.

Strawberry finds entities by the `@key` on a type's definition while it builds a schema,
and prints directives from the definition: so `Session` and `Event` carry `@key` only while
this schema is built, and its types then point at keyed copies only `_service { sdl }`
prints; `schema.graphql` stays the same. `_entities` answers like `Query.node`.
"""

import copy
from collections.abc import Mapping, Sequence
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
    core_schema,
    get_object_definition,
    raw_info,
)
from graph.plan.limits import Limits, limit_error, over_error, shape_of
from graph.schema.build import Schema
from graph.schema.context import Context
from graph.schema.types import Event, Session

# The entity types and the one key each is referenced by.
ENTITIES: dict[str, type[Session] | type[Event]] = {"Session": Session, "Event": Event}
KEY_FIELDS = "id"
# The federation version linked: the oldest with everything used here, for older gateways.
FEDERATION_VERSION: Final = "2.5"


class FederatedSchema(Schema, strawberry.federation.Schema):
    """The server's schema (codes, limits, timeout) plus `_service` and `_entities`."""

    async def entities_resolver(  # type: ignore[override]
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Strawberry's resolver would look each one up on its own and turn a bad
        `__typename` into an internal error; this one checks the representations first,
        spends the node budget, and reads the sessions in one statement. Answers are in
        the order asked, null wherever `Query.node` would answer null."""
        references = [_reference(value, index) for index, value in enumerate(representations)]
        _check_budget(info, len(references), self.limits)
        context: Context = info.context
        session_ids = [entity_id for typename, entity_id in references if typename == "Session"]
        sessions = await session_ops.sessions_by_id(context.db, context.principal, session_ids)
        results: list[Session | Event | None] = []
        for typename, entity_id in references:
            if typename == "Session":
                record = sessions.get(entity_id)
                results.append(Session.from_record(record) if record is not None else None)
            else:
                event = await event_ops.find_event(context.db, context.principal, entity_id)
                results.append(Event.from_record(event) if event is not None else None)
        return results  # type: ignore[return-value]


def _reference(value: Any, index: int) -> tuple[str, str]:
    """The entity type's name and the id asked for, or the representation's problem."""
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
    return typename, entity_id


def _bad_representation(index: int, problem: str) -> GraphQLError:
    return GraphQLError(
        f"representations[{index}] {problem}",
        extensions={"code": "BAD_USER_INPUT", "field": "representations"},
    )


def _check_budget(info: Info, count: int, limits: Limits) -> None:
    """Validation counted one entity; the whole operation's count stands for each one's
    (an upper bound), so `_entities` costs what `sessions(first: N)` would."""
    if count > limits.max_page:
        raise limit_error(
            "pageSize",
            limits.max_page,
            f"at most {limits.max_page} representations per request, got {count}",
            field="representations",
        )
    raw = raw_info(info)
    document = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    shape = shape_of(raw.schema, document, raw.operation)
    total = count * (1 + shape.node_count(info.variable_values))
    if total > limits.max_nodes:
        what = f"the operation may return {total} nodes"
        raise over_error(
            "nodes", limits.max_nodes, what, "; ask for fewer entities or smaller pages"
        )


def federated_schema(**schema_arguments: Any) -> FederatedSchema:
    """`FederatedSchema(**schema_arguments)`, keyed as the module docstring says."""
    definitions = [get_object_definition(cls, strict=True) for cls in ENTITIES.values()]
    saved = [definition.directives for definition in definitions]
    try:
        for definition in definitions:
            definition.directives = _with_key(definition.directives)
        schema = FederatedSchema(federation_version=FEDERATION_VERSION, **schema_arguments)
    finally:
        for definition, directives in zip(definitions, saved, strict=True):
            definition.directives = directives
    for name in ENTITIES:
        graphql_type = core_schema(schema).get_type(name)
        assert graphql_type is not None
        keyed = copy.copy(graphql_type.extensions[DEFINITION_BACKREF])
        keyed.directives = _with_key(keyed.directives)
        graphql_type.extensions = {**graphql_type.extensions, DEFINITION_BACKREF: keyed}
    return schema


def _with_key(directives: Sequence[object] | None) -> list[object]:
    return [*(directives or ()), Key(fields=KEY_FIELDS)]  # type: ignore[arg-type]
