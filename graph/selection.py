"""Which fields of its nodes a selected connection reads, worked out once per document.

A page of events that shows `nodes { id type message }` has no use for payloads and
timestamps, which cost the most to move and decode. `Session.events` asks
`event_fields_read` for the `Event` fields under the connection (`nodes`, `edges.node`,
through fragments) and loads only those columns; `graph/prefetch.py` asks the same
question from a page of sessions, so both arrive at the same loader key. A page of
sessions asks `node_fields_read` in the same way, and leaves out the JSON columns its
query shows nowhere.

The answer depends only on the document: it is kept per set of field nodes, which stay
the same objects for every request with the same document (parsed documents are cached
and compiled plans hold theirs). A selection with directives (`@skip`/`@include` depend
on variables) or a field that is not a plain column reads everything, as before.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from operator import is_

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode
from graphql.language import SelectionSetNode

from db.hot_reads import EVENT_FIELDS

MAX_REMEMBERED = 2048
Fragments = Mapping[str, FragmentDefinitionNode]
_remembered: dict[tuple[int, ...], tuple[Sequence[FieldNode], tuple[str, ...] | None]] = {}


class HasDirectives(Exception):
    """A selection that may or may not run, depending on variables."""


class _NotAColumn(Exception):
    """A selected field that is not read straight from a column."""


def event_fields_read(
    connection_nodes: Sequence[FieldNode],
    fragments: Fragments,
    graphql_to_python: Mapping[str, str],
) -> tuple[str, ...] | None:
    """Python names of the `Event` fields read under these `events` field nodes; None for all."""
    return _remembered_fields(connection_nodes, fragments, graphql_to_python, EVENT_FIELDS)


def node_fields_read(
    connection_nodes: Sequence[FieldNode],
    fragments: Fragments,
    graphql_to_python: Mapping[str, str],
) -> tuple[str, ...] | None:
    """Python names of the fields read of a connection's nodes (`nodes`, `edges.node`);
    None when that cannot be told from the document alone."""
    return _remembered_fields(
        connection_nodes, fragments, graphql_to_python, frozenset(graphql_to_python.values())
    )


def _remembered_fields(
    connection_nodes: Sequence[FieldNode],
    fragments: Fragments,
    graphql_to_python: Mapping[str, str],
    plain: Collection[str],
) -> tuple[str, ...] | None:
    key = tuple(map(id, connection_nodes))
    remembered = _remembered.get(key)
    if remembered is not None and all(map(is_, remembered[0], connection_nodes)):
        return remembered[1]
    fields = _fields_under(connection_nodes, fragments, graphql_to_python, plain)
    if len(_remembered) >= MAX_REMEMBERED:
        _remembered.clear()
    # The nodes are kept with the answer: their ids cannot be reused while remembered.
    _remembered[key] = (tuple(connection_nodes), fields)
    return fields


def _fields_under(
    connection_nodes: Sequence[FieldNode],
    fragments: Fragments,
    graphql_to_python: Mapping[str, str],
    plain: Collection[str],
) -> tuple[str, ...] | None:
    names: set[str] = set()
    try:
        if any(node.directives for node in connection_nodes):
            raise HasDirectives
        for part in fields_of(_selection_sets(connection_nodes), fragments):
            if part.name.value == "nodes":
                _node_fields(part, fragments, graphql_to_python, plain, names)
            elif part.name.value == "edges":
                for edge in fields_of(_selection_sets([part]), fragments):
                    if edge.name.value == "node":
                        _node_fields(edge, fragments, graphql_to_python, plain, names)
    except (HasDirectives, _NotAColumn):
        return None
    return tuple(sorted(names))


def _node_fields(
    parent: FieldNode,
    fragments: Fragments,
    graphql_to_python: Mapping[str, str],
    plain: Collection[str],
    into: set[str],
) -> None:
    for field in fields_of(_selection_sets([parent]), fragments):
        if field.name.value == "__typename":
            continue
        python_name = graphql_to_python.get(field.name.value)
        if python_name is None or python_name not in plain:
            raise _NotAColumn
        into.add(python_name)


def _selection_sets(nodes: Sequence[FieldNode]) -> list[SelectionSetNode]:
    return [node.selection_set for node in nodes if node.selection_set is not None]


def fields_of(
    selection_sets: Sequence[SelectionSetNode], fragments: Fragments
) -> Iterator[FieldNode]:
    """The fields of these selection sets in document order, fragments flattened.

    Each fragment is expanded once per call, as graphql-core collects fields: a second
    spread of it at the same level selects the same fields, which GraphQL merges, and
    expanding it again would make the walk exponential in the document's size.
    Raises `HasDirectives` at the first selection carrying a directive: whether it runs
    is decided per request.
    """
    expanded: set[str] = set()
    for selection_set in selection_sets:
        yield from _fields(selection_set, fragments, expanded)


def _fields(
    selection_set: SelectionSetNode, fragments: Fragments, expanded: set[str]
) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if selection.directives:
            raise HasDirectives
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, expanded)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in expanded:
                expanded.add(name)
                yield from _fields(fragments[name].selection_set, fragments, expanded)


def response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias is not None else node.name.value
