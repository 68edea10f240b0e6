"""Operation limits: a hostile or careless query is refused before it costs any SQL.

Bytes and tokens are counted before parsing; what depends only on the document is a validation
rule, page sizes from variables are checked per request. Both read the operation's shape in
linear time, though a 1 KB document of fragments spreading each other can stand for billions of
fields: each fragment is measured once, shared by its spreads, and the counts saturate.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    Lexer,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from db.windows import DEFAULT_PAGE, MAX_PAGE
from graph.framework import core_schema

if TYPE_CHECKING:
    from graph.settings import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    """The knobs; defaults are generous for real clients and tight for abuse."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2_000
    max_document_bytes: int = 128 * 1024
    max_fields: int = 10_000
    max_nodes: int = 10_000
    max_operations: int = 1
    timeout_seconds: float = 10.0
    max_page: int = MAX_PAGE

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """Each knob but the page size (a rule of the data) is the setting `graphql_<knob>`."""
        names = [f.name for f in fields(cls) if f.name != "max_page"]
        return cls(**{name: getattr(settings, f"graphql_{name}") for name in names})


def limit_error(
    limit: str, maximum: int | float, message: str, hint: str = "", *, field: str | None = None
) -> GraphQLError:
    """Every refusal names its limit, so a client can tell which knob it hit."""
    extensions: dict[str, Any] = {"code": "BAD_USER_INPUT", "limit": limit, "max": maximum}
    if field is not None:
        extensions["field"] = field
    return GraphQLError(f"{message} (limit: {limit}){hint}", extensions=extensions)


def over_error(limit: str, maximum: int, what: str, hint: str = "") -> GraphQLError:
    return limit_error(limit, maximum, f"{what}, more than the {maximum} allowed", hint)


CACHED_BODY_CHARS = 32_768


def _count_tokens(body: str, cap: int) -> int:
    """Tokens in `body`, counting at most `cap + 1`, so the cost is bounded whatever its size."""
    lexer = Lexer(Source(body))
    count = 0
    try:
        while count <= cap and lexer.advance().kind is not TokenKind.EOF:
            count += 1
    except GraphQLError:
        pass  # a syntax error: the parser reports it better
    return count


# Small repeated documents are counted once; big bodies never fill this cache.
_count_tokens_cached = lru_cache(maxsize=1024)(_count_tokens)


def size_error(body: str, limits: Limits) -> GraphQLError | None:
    """Bytes first: the lexer's work on one huge token grows with its length."""
    maximum = limits.max_document_bytes
    if len(body) > maximum or (len(body) * 4 > maximum and len(body.encode()) > maximum):
        message = f"the document is larger than {maximum} bytes"
        return limit_error("bytes", maximum, message, "; send large values as variables")
    count = _count_tokens_cached if len(body) <= CACHED_BODY_CHARS else _count_tokens
    if count(body, limits.max_tokens) > limits.max_tokens:
        message = f"the document has more than {limits.max_tokens} tokens"
        return limit_error("tokens", limits.max_tokens, message)
    return None


PAGE_ARGUMENTS = ("first", "last")
SATURATED = 2**62  # counts stop growing here: far past any limit, still a small integer
Variables = Mapping[str, Any] | None


def _add(a: int, b: int) -> int:
    return min(a + b, SATURATED)


def _times(a: int, b: int) -> int:
    return min(a * b, SATURATED)


@dataclass(frozen=True, slots=True)
class PageSize:
    argument: str
    literal: int | None = None
    variable: str | None = None

    def value(self, variables: Variables) -> int | None:
        """None when the default applies (a variable absent, null, or refused by coercion)."""
        if self.literal is not None or variables is None or self.variable is None:
            return self.literal
        value = variables.get(self.variable)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(eq=False, slots=True)
class Part:
    """A selection set or fragment: its connections, and the fragments and selections in it."""

    depth: int = 0
    fields: int = 0
    connections: list[ConnectionUse] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class ConnectionUse:
    sizes: tuple[PageSize, ...]
    default: int
    inner: Part

    def size(self, variables: Variables) -> int:
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

    def node_count(self, variables: Variables) -> int:
        """Each connection's page size times those around it, summed (GitHub's formula)."""
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


def shape_of(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> OperationShape:
    """Each named fragment measured once; a document nested past Python's stack is too deep."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measured: dict[str, Part] = {}
    measuring: set[str] = set()
    visits = 0

    def selection_set(node: SelectionSetNode | None, parent_type: Any, into: Part) -> None:
        nonlocal visits
        for selection in node.selections if node is not None else ():
            visits += 1
            if isinstance(selection, FieldNode):
                field_of(selection, parent_type, into)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = schema.get_type(condition.name.value) if condition else parent_type
                selection_set(selection.selection_set, inner or parent_type, into)
            elif isinstance(selection, FragmentSpreadNode):
                spread = fragment(selection.name.value)
                if spread is not None:
                    into.depth = max(into.depth, spread.depth)
                    into.fields = _add(into.fields, spread.fields)
                    into.parts.append(spread)

    def fragment(name: str) -> Part | None:
        """None for an unknown or cyclic fragment: other validation rules report it."""
        known = measured.get(name)
        definition = fragments.get(name)
        if known is not None or definition is None or name in measuring:
            return known
        measuring.add(name)
        part = Part()
        condition = schema.get_type(definition.type_condition.name.value)
        selection_set(definition.selection_set, condition, part)
        measuring.discard(name)
        measured[name] = part
        return part

    def field_of(node: FieldNode, parent_type: Any, into: Part) -> None:
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
        selection_set(node.selection_set, field_type, inner)
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

    root = Part()
    try:
        selection_set(operation.selection_set, schema.get_root_type(operation.operation), root)
    except RecursionError:
        return OperationShape(root, visits, sys.maxsize, SATURATED, too_deep=True)
    return OperationShape(root, visits, root.depth, root.fields)


# The parser cache hands out one document per query text: its identity is an exact key.
_shapes: OrderedDict[tuple[int, str | None], tuple[DocumentNode, OperationShape]] = OrderedDict()
MAX_SHAPES = 512


def cached_shape(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> OperationShape:
    key = (id(document), operation.name.value if operation.name else None)
    found = _shapes.get(key)
    if found is not None and found[0] is document:
        _shapes.move_to_end(key)
        return found[1]
    shape = shape_of(schema, document, operation)
    _shapes[key] = (document, shape)
    if len(_shapes) > MAX_SHAPES:
        _shapes.popitem(last=False)
    return shape


def shape_errors(
    shape: OperationShape, limits: Limits, variables: Variables, *, literal_only: bool
) -> list[GraphQLError]:
    """Page sizes, then the node budget; with `literal_only`, none if a size is a variable."""
    errors = [
        limit_error(
            "pageSize",
            limits.max_page,
            f"{size.argument} must be between 1 and {limits.max_page}, got {value}",
            field=size.argument,
        )
        for size in shape.page_sizes
        if (value := size.value(variables)) is not None and not 1 <= value <= limits.max_page
    ]
    if errors or (literal_only and shape.sizes_from_variables):
        return errors
    count = shape.node_count(variables)
    if count > limits.max_nodes:
        what = f"the operation may return {count} nodes"
        errors.append(over_error("nodes", limits.max_nodes, what, "; ask for smaller pages"))
    return errors


def check_variables(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Variables,
    limits: Limits,
) -> list[GraphQLError]:
    """What depends on variables: every path validating with the schema's rules runs it after."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return []  # execution reports the missing or ambiguous operation
    shape = cached_shape(schema, document, operation)
    if not shape.sizes_from_variables:
        return []  # literal sizes only: validation checked them, and the node budget
    return shape_errors(shape, limits, variables, literal_only=False)


def limit_rules(
    limits: Limits, *, introspection: bool = True
) -> tuple[type[ASTValidationRule], ...]:
    """Made once per schema: the validation cache is keyed by rule classes."""

    class DocumentLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.aliases = 0

        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            error = size_error(node.loc.source.body, limits) if node.loc is not None else None
            if error is not None:
                self.report_error(error)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            shape = cached_shape(self.context.schema, self.context.document, node)
            if shape.depth > limits.max_depth:
                depth = "too many" if shape.too_deep else shape.depth
                what = f"the operation is nested {depth} fields deep"
                self.report_error(over_error("depth", limits.max_depth, what))
            elif shape.fields > limits.max_fields:
                what = f"the operation selects more than {limits.max_fields} fields once its"
                what += " fragments are expanded"
                self.report_error(limit_error("fields", limits.max_fields, what))
            else:
                for error in shape_errors(shape, limits, None, literal_only=True):
                    self.report_error(error)

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, *_: Any) -> None:
            if self.aliases > limits.max_aliases:
                what = f"the document uses {self.aliases} aliases"
                self.report_error(over_error("aliases", limits.max_aliases, what))

    return (DocumentLimits,) if introspection else (DocumentLimits, NoSchemaIntrospectionCustomRule)


class OperationLimits(SchemaExtension):
    """Bytes and tokens before parsing, variables before execution; `limit_rules` validates."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and self.execution_context.graphql_document is None:
            error = size_error(query, self.limits)
            if error is not None:
                raise error
        yield

    def on_execute(self) -> Iterator[None]:
        """A refusal set as the result means execution never starts."""
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            errors = check_variables(
                core_schema(context.schema),
                context.graphql_document,
                context.operation_name,
                context.variables,
                self.limits,
            )
            if errors:
                context.result = GraphQLExecutionResult(data=None, errors=errors)
        yield
