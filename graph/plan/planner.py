"""A validated query operation as a read plan (db/store/read_plan.py; docs/read-planner.md).

Fields are collected as graphql-core collects them, so the plan's keys are the answer's,
in its order. A *probe* is an argument and the function reducing it to a fact of the
plan's shape; a parameter one the resolvers would refuse raises `InvalidInput`.
"""

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    value_from_ast,
)
from graphql.type import GraphQLInputType, is_abstract_type

from db.cursors import decode_event_cursor, decode_session_cursor
from db.errors import InvalidInput
from db.fields import EVENT_FIELDS, SESSION_FIELDS
from db.ids import EVENT_PREFIX, SESSION_PREFIX, is_well_formed
from db.store import read_plan
from db.store.read_plan import Entries, Part, ReadPlan
from db.validation import free_of_nul
from db.windows import check_page_size

SESSION_BY_API = {f.api: f.name for f in SESSION_FIELDS}
EVENT_BY_API = {f.api: f.name for f in EVENT_FIELDS}
PAGE_INFO = {
    "hasNextPage": "has_next_page",
    "hasPreviousPage": "has_previous_page",
    "startCursor": "start_cursor",
    "endCursor": "end_cursor",
}
DEFAULT_SESSIONS = 20
MAX_SHAPES = 64
Variables = Mapping[str, Any]


class Unplannable(Exception):
    """The operation has a part the planner does not express."""


@dataclass(frozen=True, eq=False)
class Argument:
    """A literal, a variable, or the field's default; compared by identity (the cached
    document's nodes are stable)."""

    node: ValueNode | None
    type: GraphQLInputType | None
    default: Any = None

    def value(self, variables: Variables) -> Any:
        node = self.node
        if node is None:
            return self.default
        if isinstance(node, VariableNode):
            return variables.get(node.name.value, self.default)
        assert self.type is not None
        return value_from_ast(node, self.type, dict(variables))


# An argument and what reads it: a probe's classifier, or a parameter's converter.
Probe = tuple[Argument, Callable[[Any], Any]]
Planned = tuple[ReadPlan, tuple[Probe, ...]]


def _given(value: Any) -> bool:
    return value is not None


def _condition(value: Any) -> bool | None:
    """A directive's `if`; None for an explicit null, which the standard path refuses."""
    return value if isinstance(value, bool) else None


def _id_kind(value: Any) -> str:
    if value is None:
        return "null"  # an explicit null for `ID!`: refused by the standard path
    if isinstance(value, str):
        if is_well_formed(value, SESSION_PREFIX):
            return "session"
        if is_well_formed(value, EVENT_PREFIX):
            return "event"
    return "none"


def _stored(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _filter_shape(value: Any) -> tuple[tuple[str, ...] | None, bool] | None:
    """`SessionFilter` arrives coerced as a dict of its GraphQL names."""
    if value is None:
        return None
    statuses = value.get("status")
    return (
        tuple(_stored(s) for s in statuses) if statuses is not None else None,
        value.get("userId") is not None,
    )


def _newest_first(value: Any) -> bool | None:
    """None for an explicit null, which the standard path refuses (`SessionOrder!`)."""
    return None if value is None else bool(_stored(value) != "created_at_asc")


@dataclass
class Planner:
    """Builds the plan of one operation for one request's variables, recording its probes."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Variables
    arguments: dict[tuple[int, str], Argument] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)
    parameters: list[Probe] = field(default_factory=list)

    def probe(self, argument: Argument, classify: Callable[[Any], Any]) -> Any:
        self.probes.append((argument, classify))
        return classify(argument.value(self.variables))

    def parameter(self, argument: Argument, convert: Callable[[Any], Any]) -> int:
        self.parameters.append((argument, convert))
        return len(self.parameters) - 1

    def collect(
        self, nodes: Sequence[FieldNode | OperationDefinitionNode], type_name: str
    ) -> dict[str, list[FieldNode]]:
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    grouped.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self.applies(selection.type_condition, type_name):
                        walk(selection.selection_set)
                elif (
                    isinstance(selection, FragmentSpreadNode)
                    and selection.name.value not in visited
                ):
                    visited.add(selection.name.value)
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is not None and self.applies(fragment.type_condition, type_name):
                        walk(fragment.selection_set)

        for node in nodes:
            if node.selection_set is not None:
                walk(node.selection_set)
        return grouped

    def applies(self, condition: NamedTypeNode | None, type_name: str) -> bool:
        if condition is None or condition.name.value == type_name:
            return True
        abstract = self.schema.get_type(condition.name.value)
        concrete = self.schema.get_type(type_name)
        return (
            abstract is not None
            and is_abstract_type(abstract)
            and self.schema.is_sub_type(abstract, concrete)  # type: ignore[arg-type]
        )

    def included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next(a.value for a in directive.arguments if a.name.value == "if")
            value = self.probe(self.cached(directive, "if", condition, GraphQLBoolean), _condition)
            if value is None:
                raise Unplannable(f"@{name}(if: null)")
            if value == (name == "skip"):
                return False
        return True

    def argument(self, node: FieldNode, parent: str, name: str) -> Argument:
        parent_type = self.schema.get_type(parent)
        definition = parent_type.fields[node.name.value].args[name]  # type: ignore[union-attr]
        default = definition.default_value
        default = None if default is Undefined else default
        value = next((a.value for a in node.arguments or () if a.name.value == name), None)
        return self.cached(node, name, value, definition.type, default)

    def cached(
        self, node: Any, name: str, value: ValueNode | None, type_: Any, default: Any = None
    ) -> Argument:
        """One `Argument` per place in the document, whichever request plans it: probes are
        compared by identity, so a shape learnt once stays."""
        return self.arguments.setdefault((id(node), name), Argument(value, type_, default))

    def operation(self, operation: OperationDefinitionNode) -> ReadPlan:
        return ReadPlan(self.entries([operation], "Query", self.root))

    def entries(
        self,
        nodes: Sequence[FieldNode | OperationDefinitionNode],
        type_name: str,
        part: Callable[[str, list[FieldNode]], Part | None],
    ) -> Entries:
        """An object's entries; `part` gives each field's, None for a field not planned."""
        entries: list[tuple[str, Part]] = []
        for key, fields in self.collect(nodes, type_name).items():
            name = fields[0].name.value
            found = read_plan.Text(type_name) if name == "__typename" else part(name, fields)
            if found is None:
                raise Unplannable(f"{type_name}.{name}")
            entries.append((key, found))
        return tuple(entries)

    def root(self, name: str, nodes: list[FieldNode]) -> Part | None:
        if name == "sessions":
            return self.sessions(nodes)
        if name not in ("session", "node"):
            return None
        argument = self.argument(nodes[0], "Query", "id")
        kind = self.probe(argument, _id_kind)
        if kind == "null":
            raise Unplannable(f"Query.{name}(id: null)")
        if kind == "session":
            return read_plan.SessionById(self.parameter(argument, str), self.session(nodes))
        if kind == "event" and name == "node":
            return read_plan.EventById(self.parameter(argument, str), self.event(nodes))
        return read_plan.Null()

    def session(self, nodes: list[FieldNode]) -> Entries:
        def part(name: str, fields: list[FieldNode]) -> Part | None:
            return self.events(fields) if name == "events" else _field(SESSION_BY_API, name)

        return self.entries(nodes, "Session", part)

    def event(self, nodes: list[FieldNode]) -> Entries:
        return self.entries(nodes, "Event", lambda name, _: _field(EVENT_BY_API, name))

    def connection(
        self, nodes: list[FieldNode], kind: str, rows: Callable[[list[FieldNode]], Entries]
    ) -> Entries:
        def part(name: str, fields: list[FieldNode]) -> Part | None:
            if name == "nodes":
                return read_plan.Rows(rows(fields))
            if name == "edges":
                return read_plan.Rows(self.entries(fields, f"{kind}Edge", edge))
            if name == "pageInfo":
                return read_plan.Obj(
                    self.entries(fields, "PageInfo", lambda n, _: _field(PAGE_INFO, n))
                )
            return read_plan.Field("total_count") if name == "totalCount" else None

        def edge(name: str, fields: list[FieldNode]) -> Part | None:
            if name == "node":
                return read_plan.Obj(rows(fields))
            return read_plan.Field("cursor") if name == "cursor" else None

        return self.entries(nodes, f"{kind}Connection", part)

    def events(self, nodes: list[FieldNode]) -> Part:
        def window_argument(name: str, convert: Callable[[Any], Any]) -> int | None:
            argument = self.argument(nodes[0], "Session", name)
            if not self.probe(argument, _given):
                return None
            return self.parameter(argument, convert)

        window = read_plan.Window(
            first=window_argument("first", partial(_page_size, name="first")),
            after=window_argument("after", partial(decode_event_cursor, field="after")),
            last=window_argument("last", partial(_page_size, name="last")),
            before=window_argument("before", partial(decode_event_cursor, field="before")),
        )
        return read_plan.EventPage(window, self.connection(nodes, "Event", self.event))

    def sessions(self, nodes: list[FieldNode]) -> Part:
        node = nodes[0]
        first = self.parameter(self.argument(node, "Query", "first"), _session_page_size)
        after_argument = self.argument(node, "Query", "after")
        after = None
        if self.probe(after_argument, _given):
            cursor = partial(decode_session_cursor, field="after")  # (time, id)
            after = (
                self.parameter(after_argument, lambda value: cursor(value)[0]),
                self.parameter(after_argument, lambda value: cursor(value)[1]),
            )
        filter_argument = self.argument(node, "Query", "filter")
        statuses, by_user = self.probe(filter_argument, _filter_shape) or (None, False)
        user_id = None
        if by_user:
            user_id = self.parameter(filter_argument, lambda v: free_of_nul(v["userId"], "userId"))
        newest_first = self.probe(self.argument(node, "Query", "orderBy"), _newest_first)
        if newest_first is None:
            raise Unplannable("Query.sessions(orderBy: null)")
        query = read_plan.SessionFilter(first, after, statuses, user_id, newest_first)
        return read_plan.SessionPage(query, self.connection(nodes, "Session", self.session))


def _field(known: Mapping[str, str], name: str) -> read_plan.Field | None:
    return read_plan.Field(known[name]) if name in known else None


def _page_size(value: Any, name: str) -> int:
    check_page_size(value, name)
    return int(value)


def _session_page_size(value: Any) -> int:
    return _page_size(DEFAULT_SESSIONS if value is None else value, "first")


class OperationPlans:
    """The plans of one operation, one per shape: the tuple of its probes' answers. Probes
    are learnt as plans are built (a branch skipped today may be probed tomorrow), and a new
    one clears the plans, so every plan is keyed by every probe."""

    def __init__(
        self, schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.probes: list[Probe] = []
        self.arguments: dict[tuple[int, str], Argument] = {}
        self.plans: dict[tuple[Any, ...], Planned | None] = {}

    def shape(self, variables: Variables) -> tuple[Any, ...]:
        return tuple(classify(argument.value(variables)) for argument, classify in self.probes)

    def plan_for(self, variables: Variables) -> tuple[ReadPlan, list[Any]] | None:
        """The plan and its parameters' values; None: the standard path answers."""
        key = self.shape(variables)
        found = self.plans[key] if key in self.plans else self.learn(variables)
        if found is None:
            return None
        plan, parameters = found
        try:
            return plan, [convert(argument.value(variables)) for argument, convert in parameters]
        except InvalidInput:
            return None  # refused by the standard resolvers, which say why

    def learn(self, variables: Variables) -> Planned | None:
        planner = Planner(self.schema, self.fragments, variables, self.arguments)
        planned: Planned | None = None
        with suppress(Unplannable):
            planned = planner.operation(self.operation), tuple(planner.parameters)
        new = [p for p in planner.probes if p not in self.probes]
        if new:
            self.probes.extend(dict.fromkeys(new))
            self.plans.clear()
        if len(self.plans) >= MAX_SHAPES:
            self.plans.pop(next(iter(self.plans)))
        self.plans[self.shape(variables)] = planned
        return planned
