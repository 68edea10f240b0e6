"""Which fields of its events a selected `events` connection reads, worked out once per document.

A page of events that shows `nodes { id type message }` has no use for payloads and
timestamps, which cost the most to move and decode. `Session.events` asks
`event_fields_read` for the `Event` fields under the connection (`nodes`, `edges.node`,
through fragments) and loads only those columns.

The answer depends only on the document, so it is kept per (operation, response path):
parsed documents are cached and compiled plans hold their operation, so the same
operation object comes back with every request for the same document. A selection with
directives (`@skip`/`@include` depend on variables) or a field that is not a plain
column reads everything, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from db.hot_reads import EVENT_FIELDS

MAX_REMEMBERED = 2048
_remembered: dict[tuple[int, tuple[str, ...]], tuple[Any, tuple[str, ...] | None]] = {}


class _ReadsEverything(Exception):
    """The selection needs whole events."""


def event_fields_read(info: Info, graphql_to_python: dict[str, str]) -> tuple[str, ...] | None:
    """Python names of the `Event` fields read under this connection; None for all of them."""
    operation = info.operation
    keys = _response_keys(info.path)
    remembered = _remembered.get((id(operation), keys))
    if remembered is not None and remembered[0] is operation:
        return remembered[1]
    try:
        names: set[str] = set()
        for connection in _connection_parts(info.selected_fields):  # the `events` field
            for selection in _connection_parts(connection.selections):
                if selection.name == "nodes":
                    _event_fields(selection.selections, graphql_to_python, names)
                elif selection.name == "edges":
                    for edge in _connection_parts(selection.selections):
                        if edge.name == "node":
                            _event_fields(edge.selections, graphql_to_python, names)
        fields: tuple[str, ...] | None = tuple(sorted(names))
    except _ReadsEverything:
        fields = None
    if len(_remembered) >= MAX_REMEMBERED:
        _remembered.clear()
    _remembered[(id(operation), keys)] = (operation, fields)
    return fields


def _response_keys(path: Any) -> tuple[str, ...]:
    """The response path without list indices: the same for every row of a list."""
    keys = []
    while path is not None:
        if isinstance(path.key, str):
            keys.append(path.key)
        path = path.prev
    return tuple(keys)


def _connection_parts(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    """The fields of one selection set, fragments flattened."""
    for selection in selections:
        if selection.directives:
            raise _ReadsEverything
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, InlineFragment | FragmentSpread):
            yield from _connection_parts(selection.selections)


def _event_fields(
    selections: Iterable[Selection], graphql_to_python: dict[str, str], into: set[str]
) -> None:
    for field in _connection_parts(selections):
        if field.name == "__typename":
            continue
        python_name = graphql_to_python.get(field.name)
        if python_name is None or python_name not in EVENT_FIELDS:
            raise _ReadsEverything
        into.add(python_name)
