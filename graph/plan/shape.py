"""What an operation asks for, measured in time linear in the document whatever its fragments do.

A 1 KB document whose fragments spread each other can stand for billions of fields: each
fragment is measured once and shared by its spreads, and the counts saturate.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
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
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from db.windows import DEFAULT_PAGE

PAGE_ARGUMENTS = ("first", "last")
SATURATED = 2**62  # counts stop growing here: far past any limit, still a small integer


def _add(a: int, b: int) -> int:
    return min(a + b, SATURATED)


def _times(a: int, b: int) -> int:
    return min(a * b, SATURATED)


@dataclass(frozen=True, slots=True)
class PageSize:
    """One page-size argument: a literal or a variable."""

    argument: str
    literal: int | None = None
    variable: str | None = None

    def value(self, variables: Mapping[str, Any] | None) -> int | None:
        """The size asked for; None when the default applies (a variable that is absent,
        null, or not an integer, which variable coercion refuses)."""
        if self.literal is not None or variables is None or self.variable is None:
            return self.literal
        value = variables.get(self.variable)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(eq=False, slots=True)
class Part:
    """A selection set or fragment: its own connections, and the parts it contains (the
    fragments it spreads, its other fields' selections)."""

    depth: int = 0
    fields: int = 0
    connections: list[ConnectionUse] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class ConnectionUse:
    sizes: tuple[PageSize, ...]
    default: int
    inner: Part

    def size(self, variables: Mapping[str, Any] | None) -> int:
        values = [max(v, 0) for s in self.sizes if (v := s.value(variables)) is not None]
        return min(values) if values else self.default


@dataclass
class OperationShape:
    """An operation's measure; `visits` counts the selections the walk looked at."""

    root: Part
    visits: int
    depth: int
    fields: int
    too_deep: bool = False

    @property
    def page_sizes(self) -> Iterator[PageSize]:
        """Each connection field's sizes once, however often its fragment is spread."""
        seen: set[int] = set()
        pending = [self.root]
        while pending:
            part = pending.pop()
            if id(part) not in seen:
                seen.add(id(part))
                for use in part.connections:
                    yield from use.sizes
                    pending.append(use.inner)
                pending.extend(part.parts)

    @cached_property
    def sizes_from_variables(self) -> bool:
        """Only then can a request's variables break a limit validation did not check."""
        return any(size.literal is None for size in self.page_sizes)

    def node_count(self, variables: Mapping[str, Any] | None) -> int:
        """Each connection's page size times those of the connections around it, summed
        (GitHub's formula), counting every spread of a fragment."""
        memo: dict[int, int] = {}

        def nodes(part: Part) -> int:
            known = memo.get(id(part))
            if known is None:
                known = 0
                for use in part.connections:
                    known = _add(known, _times(use.size(variables), _add(1, nodes(use.inner))))
                for inner in part.parts:
                    known = _add(known, nodes(inner))
                memo[id(part)] = known
            return known

        return nodes(self.root)


class _Measure:
    """Measures selection sets, each named fragment once."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.measured: dict[str, Part] = {}
        self.measuring: set[str] = set()
        self.visits = 0

    def selection_set(self, node: SelectionSetNode | None, parent_type: Any, into: Part) -> None:
        for selection in node.selections if node is not None else ():
            self.visits += 1
            if isinstance(selection, FieldNode):
                self.field(selection, parent_type, into)
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
        definition = self.fragments.get(name)
        if known is not None or definition is None or name in self.measuring:
            return known
        self.measuring.add(name)
        part = Part()
        condition = self.schema.get_type(definition.type_condition.name.value)
        self.selection_set(definition.selection_set, condition, part)
        self.measuring.discard(name)
        self.measured[name] = part
        return part

    def field(self, node: FieldNode, parent_type: Any, into: Part) -> None:
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
        if field_def is None or field_type is None or not field_type.name.endswith("Connection"):
            into.parts.append(inner)
            return
        sizes = []
        for argument in node.arguments or ():
            given, value = argument.name.value, argument.value
            if given in PAGE_ARGUMENTS and isinstance(value, IntValueNode):
                sizes.append(PageSize(given, literal=int(value.value)))
            elif given in PAGE_ARGUMENTS and isinstance(value, VariableNode):
                sizes.append(PageSize(given, variable=value.name.value))
            # null or a wrong type: the default applies, or validation refuses it
        declared = field_def.args.get("first")
        default = declared.default_value if declared is not None else None
        default = default if isinstance(default, int) else DEFAULT_PAGE
        into.connections.append(ConnectionUse(tuple(sizes), default, inner))


def shape_of(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> OperationShape:
    """A document nested past Python's stack counts as too deep."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(schema, fragments)
    root = Part()
    try:
        root_type = schema.get_root_type(operation.operation)
        measure.selection_set(operation.selection_set, root_type, root)
    except RecursionError:
        return OperationShape(root, measure.visits, sys.maxsize, SATURATED, too_deep=True)
    return OperationShape(root, measure.visits, root.depth, root.fields)
