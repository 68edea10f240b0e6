"""Look ahead from a page of sessions to the events each of them will ask for.

Left to itself, each `Session.events` of a page is a coroutine that waits for the
request's DataLoader: 20 sessions make 20 coroutines, 20 tasks and a batch the loop
dispatches on its next turn. The page's resolver already holds every session, and the
document says which `events` fields each will resolve, with which arguments and which
columns; so it asks the same loader for every one of those windows in one batch, and each
`Session.events` then finds its page loaded and answers at once.

Nothing here decides a result: the keys are made by the functions the resolver itself
uses (`events_window`, `event_fields_read`, `load_events`). A key the resolver does not
ask for costs a wasted read, nothing else; one it asks for but was not loaded here is
loaded by the resolver, as before. Arguments that fail (a bad cursor, a page too large)
are left to the resolver, which reports them where they belong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from operator import is_
from typing import Any

from graphql import FieldNode, GraphQLObjectType, Undefined, value_from_ast
from strawberry.types import Info

from graph.selection import Fragments, HasDirectives, event_fields_read, fields_of, response_key
from graph.types import Session, event_field_names, events_window, load_events

MAX_REMEMBERED = 2048
# Per set of `sessions` field nodes: each group of `events` field nodes one Session
# resolves together, with the fields it reads. Empty when anything has a directive.
EventsGroup = tuple[Sequence[FieldNode], tuple[str, ...] | None]
_plans: dict[tuple[int, ...], tuple[Sequence[FieldNode], list[EventsGroup]]] = {}


async def load_event_pages(info: Info, sessions: Sequence[Session]) -> None:
    """Load, in one batch, the events pages the selected `events` fields of `sessions` read."""
    if not sessions:
        return
    raw = info._raw_info
    loading: list[asyncio.Future[Any]] = []
    session_type = raw.schema.get_type("Session")
    assert isinstance(session_type, GraphQLObjectType)
    events_field = session_type.fields["events"]
    variables = info.variable_values
    for nodes, fields in _events_groups(raw.field_nodes, raw.fragments):
        arguments = _arguments(events_field.args, nodes[0], variables)
        if arguments is None:
            continue
        for session in sessions:
            try:
                window = events_window(session.record, **arguments)
            except Exception:  # the resolver raises the same error at its own path
                continue
            if not window.is_empty:
                loading.append(load_events(info.context, session.record.id, window, fields))
    if loading:
        await asyncio.wait(loading)
        for future in loading:
            if not future.cancelled():
                future.exception()  # each resolver awaits its own and reports a failure


def _events_groups(
    connection_nodes: Sequence[FieldNode], fragments: Fragments
) -> list[EventsGroup]:
    key = tuple(map(id, connection_nodes))
    remembered = _plans.get(key)
    if remembered is not None and all(map(is_, remembered[0], connection_nodes)):
        return remembered[1]
    groups: list[EventsGroup]
    try:
        groups = [
            (nodes, event_fields_read(nodes, fragments, event_field_names()))
            for nodes in _grouped_events_nodes(connection_nodes, fragments)
        ]
    except HasDirectives:
        groups = []
    if len(_plans) >= MAX_REMEMBERED:
        _plans.clear()
    _plans[key] = (tuple(connection_nodes), groups)
    return groups


def _grouped_events_nodes(
    connection_nodes: Sequence[FieldNode], fragments: Fragments
) -> Iterator[list[FieldNode]]:
    """The `events` field nodes each session resolves as one field, as the executor merges them.

    Sessions appear under `nodes` and under `edges.node`; within each (by response key),
    `events` nodes with the same response key are one field.
    """
    session_sets: dict[tuple[str, ...], list[FieldNode]] = {}
    for part in fields_of(_sets(connection_nodes), fragments):
        if part.name.value == "nodes":
            session_sets.setdefault((response_key(part),), []).append(part)
        elif part.name.value == "edges":
            for edge in fields_of(_sets([part]), fragments):
                if edge.name.value == "node":
                    path = (response_key(part), response_key(edge))
                    session_sets.setdefault(path, []).append(edge)
    for session_nodes in session_sets.values():
        events: dict[str, list[FieldNode]] = {}
        for field in fields_of(_sets(session_nodes), fragments):
            if field.name.value == "events":
                events.setdefault(response_key(field), []).append(field)
        yield from events.values()


def _sets(nodes: Sequence[FieldNode]) -> list[Any]:
    return [node.selection_set for node in nodes if node.selection_set is not None]


def _arguments(
    definitions: dict[str, Any], node: FieldNode, variables: dict[str, Any]
) -> dict[str, Any] | None:
    """The field's arguments as the executor coerces them; None when one cannot be read here."""
    values: dict[str, Any] = {}
    for argument in node.arguments or ():
        definition = definitions.get(argument.name.value)
        if definition is None:
            return None
        value = value_from_ast(argument.value, definition.type, variables)
        if value is Undefined:
            return None  # a variable left out: its default is the executor's to apply
        values[argument.name.value] = value
    return values
