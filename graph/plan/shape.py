"""What an operation asks for, measured in one pass whatever its fragments do.

A fragment may be spread many times and spread others in turn, so a 1 KB document can
stand for billions of fields once expanded; a walk that expands every spread costs that
much before any limit could refuse it. Here each fragment is measured once and its
measure is shared by every spread of it: the shape is a graph, and building it and every
count taken from it cost time linear in the document's size. The counts themselves may
still be astronomically large (they saturate), which is how the limits recognise such a
document and refuse it before anything expands it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from db.windows import DEFAULT_PAGE

PAGE_ARGUMENTS = ("first", "last")
CONNECTION_SUFFIX = "Connection"
SATURATED = 2**62  # counts stop growing here: far past any limit, still a small integer


def _add(a: int, b: int) -> int:
    return min(a + b, SATURATED)


def _times(a: int, b: int) -> int:
    return min(a * b, SATURATED)


@dataclass(frozen=True, slots=True)
class PageSize:
    """One page-size argument: a literal, or a variable with its declared default."""

    argument: str
    literal: int | None = None
    variable: str | None = None


@dataclass(eq=False, slots=True)
class Part:
    """A selection set or fragment, measured from where it sits.

    `connections` are the connection fields directly in it; `parts` are the fragments it
    spreads and the selections of its other fields, each measured the same way. What lies
    inside a connection belongs to that connection's `inner` part.
    """

    depth: int = 0
    fields: int = 0
    connections: list[ConnectionUse] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class ConnectionUse:
    """A connection field: its page-size arguments and what is selected in it."""

    sizes: tuple[PageSize, ...]
    default: int
    inner: Part


@dataclass(slots=True)
class OperationShape:
    """An operation's measure; `visits` counts the selections the walk looked at."""

    root: Part = field(default_factory=Part)
    visits: int = 0
    too_deep: bool = False
    # Whether any page size comes from a variable, once known: only then can a request's
    # variables break a limit that validation did not already check.
    _from_variables: bool | None = None

    @property
    def sizes_from_variables(self) -> bool:
        if self._from_variables is None:
            self._from_variables = any(size.literal is None for size in self.page_sizes)
        return self._from_variables

    @property
    def depth(self) -> int:
        return sys.maxsize if self.too_deep else self.root.depth

    @property
    def fields(self) -> int:
        return SATURATED if self.too_deep else self.root.fields

    def connections(self) -> Iterator[ConnectionUse]:
        """Each connection field of the document once, however often it is spread."""
        seen: set[int] = set()
        pending = [self.root]
        while pending:
            part = pending.pop()
            if id(part) in seen:
                continue
            seen.add(id(part))
            for use in part.connections:
                yield use
                pending.append(use.inner)
            pending.extend(part.parts)

    @property
    def page_sizes(self) -> Iterator[PageSize]:
        for use in self.connections():
            yield from use.sizes

    def node_count(self, size_of: Callable[[ConnectionUse], int]) -> int:
        """Nodes the operation may return: each connection's page size times the page
        sizes of the connections around it, summed (GitHub's formula), counting every
        spread of a fragment."""
        memo: dict[int, int] = {}

        def nodes(part: Part) -> int:
            known = memo.get(id(part))
            if known is not None:
                return known
            total = 0
            for use in part.connections:
                total = _add(total, _times(size_of(use), _add(1, nodes(use.inner))))
            for inner in part.parts:
                total = _add(total, nodes(inner))
            memo[id(part)] = total
            return total

        return nodes(self.root)


def _page_size(argument: str, value: Any) -> PageSize | None:
    if isinstance(value, IntValueNode):
        return PageSize(argument, literal=int(value.value))
    if isinstance(value, VariableNode):
        return PageSize(argument, variable=value.name.value)
    return None  # null or a wrong type: the default applies, or validation refuses it


def _connection_default(field_def: Any) -> int:
    declared = field_def.args.get("first")
    default = declared.default_value if declared is not None else None
    return default if isinstance(default, int) else DEFAULT_PAGE


class _Measure:
    """Measures selection sets, each named fragment once."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.measured: dict[str, Part] = {}
        self.measuring: set[str] = set()
        self.visits = 0

    def selection_set(self, node: SelectionSetNode | None, parent_type: Any, into: Part) -> None:
        if node is None:
            return
        for selection in node.selections:
            self.visits += 1
            if isinstance(selection, FieldNode):
                self._field(selection, parent_type, into)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent_type
                self.selection_set(selection.selection_set, inner or parent_type, into)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragment(selection.name.value)
                if fragment is not None:
                    into.depth = max(into.depth, fragment.depth)
                    into.fields = _add(into.fields, fragment.fields)
                    into.parts.append(fragment)

    def fragment(self, name: str) -> Part | None:
        """None for an unknown or cyclic fragment: other validation rules report it."""
        known = self.measured.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.measuring:
            return None
        self.measuring.add(name)
        part = Part()
        self.selection_set(
            definition.selection_set,
            self.schema.get_type(definition.type_condition.name.value),
            part,
        )
        self.measuring.discard(name)
        self.measured[name] = part
        return part

    def _field(self, node: FieldNode, parent_type: Any, into: Part) -> None:
        name = node.name.value
        into.fields = _add(into.fields, 1)
        if name.startswith("__"):
            return  # introspection: bounded by the schema itself, off in production
        field_def = None
        if isinstance(parent_type, GraphQLObjectType | GraphQLInterfaceType):
            field_def = parent_type.fields.get(name)
        field_type = get_named_type(field_def.type) if field_def is not None else None
        inner = Part()
        # An unknown field (FieldsOnCorrectTypeRule reports it) still counts its depth.
        self.selection_set(node.selection_set, field_type, inner)
        into.depth = max(into.depth, inner.depth + 1)
        into.fields = _add(into.fields, inner.fields)
        if field_def is not None and field_type is not None and _is_connection(field_type):
            sizes = tuple(
                size
                for argument in node.arguments or ()
                if argument.name.value in PAGE_ARGUMENTS
                for size in [_page_size(argument.name.value, argument.value)]
                if size is not None
            )
            into.connections.append(ConnectionUse(sizes, _connection_default(field_def), inner))
        else:
            into.parts.append(inner)


def _is_connection(field_type: Any) -> bool:
    return bool(field_type.name.endswith(CONNECTION_SUFFIX))


def operation_root(schema: GraphQLSchema, operation: OperationDefinitionNode) -> Any:
    if operation.operation is OperationType.MUTATION:
        return schema.mutation_type
    if operation.operation is OperationType.SUBSCRIPTION:
        return schema.subscription_type
    return schema.query_type


def shape_of(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> OperationShape:
    """A document nested past Python's stack counts as too deep."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(schema, fragments)
    shape = OperationShape()
    try:
        measure.selection_set(
            operation.selection_set, operation_root(schema, operation), shape.root
        )
    except RecursionError:
        shape.too_deep = True
    shape.visits = measure.visits
    return shape
