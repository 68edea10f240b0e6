"""Operation limits: a hostile or careless query is refused before it costs any SQL.

Depth, aliases, tokens, literal page sizes and the literal part of the node budget depend
only on the document, so they are graphql-core validation rules and share the validation
cache. Page sizes and budgets that come from variables change per request while the
document (and so its cached validation) stays the same, so `check_variables` runs them
on every request just before execution; it reuses the document's shape, which is
computed once per parsed document.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
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
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Source,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql.language.lexer import Lexer
from graphql.language.token_kind import TokenKind
from graphql.validation.rules.custom.no_schema_introspection import (
    NoSchemaIntrospectionCustomRule,
)
from strawberry.extensions import SchemaExtension

from db.windows import DEFAULT_PAGE, MAX_PAGE

if TYPE_CHECKING:
    from graph.settings import Settings

PAGE_ARGUMENTS = ("first", "last")
MAX_SHAPE_DEPTH = 64  # deeper than any limit worth setting; the walk stops there
CONNECTION_SUFFIX = "Connection"


@dataclass(frozen=True, slots=True)
class Limits:
    """The knobs; defaults are generous for real clients and tight for abuse."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2_000
    max_nodes: int = 10_000
    max_operations: int = 1
    timeout_seconds: float = 10.0
    max_page: int = MAX_PAGE

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_nodes=settings.graphql_max_nodes,
            max_operations=settings.graphql_max_operations,
            timeout_seconds=settings.graphql_timeout_seconds,
        )


def limit_error(
    limit: str, maximum: int | float, message: str, *, field: str | None = None
) -> GraphQLError:
    """Every refusal names its limit, so a client can tell which knob it hit."""
    extensions: dict[str, Any] = {"code": "BAD_USER_INPUT", "limit": limit, "max": maximum}
    if field is not None:
        extensions["field"] = field
    return GraphQLError(message, extensions=extensions)


# ---------------------------------------------------------------------------- tokens


CACHED_BODY_CHARS = 32_768


def count_tokens(body: str, cap: int) -> int:
    """Tokens in `body`, counting at most `cap + 1` (enough to know it is over).

    Lexing stops after `cap + 1` tokens, so the cost is bounded whatever the body's size;
    repeated (small) documents are answered from a cache that big bodies never fill.
    """
    if len(body) <= CACHED_BODY_CHARS:
        return _count_tokens_cached(body, cap)
    return _count_tokens(body, cap)


@lru_cache(maxsize=1024)
def _count_tokens_cached(body: str, cap: int) -> int:
    return _count_tokens(body, cap)


def _count_tokens(body: str, cap: int) -> int:
    lexer = Lexer(Source(body))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
            if count > cap:
                break
    except GraphQLError:
        pass  # a syntax error: the parser reports it better
    return count


def token_error(body: str, limits: Limits) -> GraphQLError | None:
    if count_tokens(body, limits.max_tokens) > limits.max_tokens:
        return limit_error(
            "tokens",
            limits.max_tokens,
            f"the document has more than {limits.max_tokens} tokens (limit: tokens)",
        )
    return None


# ----------------------------------------------------------------------- the shape


@dataclass(frozen=True, slots=True)
class PageSize:
    """One page-size argument: a literal, or a variable with its declared default."""

    argument: str
    literal: int | None = None
    variable: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionUse:
    """A connection field selected under `parents` (the connections around it)."""

    sizes: tuple[PageSize, ...]
    default: int
    parents: tuple[ConnectionUse, ...]


@dataclass(slots=True)
class OperationShape:
    depth: int = 0
    connections: list[ConnectionUse] = field(default_factory=list)

    @property
    def page_sizes(self) -> Iterable[PageSize]:
        for use in self.connections:
            yield from use.sizes


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


class _ShapeWalker:
    """Walks one operation through its fragments, following the schema's types."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, Any], depth_cap: int) -> None:
        self.schema = schema
        self.fragments = fragments
        self.depth_cap = depth_cap
        self.shape = OperationShape()

    def walk(
        self,
        selection_set: SelectionSetNode | None,
        parent_type: Any,
        depth: int,
        parents: tuple[ConnectionUse, ...],
        visiting: frozenset[str],
    ) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent_type, depth, parents, visiting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent_type
                self.walk(selection.selection_set, inner or parent_type, depth, parents, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:
                    continue  # unknown or cyclic: other validation rules report it
                inner = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(
                    fragment.selection_set, inner or parent_type, depth, parents, visiting | {name}
                )

    def _field(
        self,
        node: FieldNode,
        parent_type: Any,
        depth: int,
        parents: tuple[ConnectionUse, ...],
        visiting: frozenset[str],
    ) -> None:
        name = node.name.value
        if name.startswith("__"):
            return  # introspection: bounded by the schema itself, off in production
        depth += 1
        self.shape.depth = max(self.shape.depth, depth)
        if depth > self.depth_cap:
            return  # refused for its depth; going deeper would only cost stack
        field_def = None
        if isinstance(parent_type, GraphQLObjectType | GraphQLInterfaceType):
            field_def = parent_type.fields.get(name)
        if field_def is None:
            # Unknown field (FieldsOnCorrectTypeRule reports it); its depth still counts.
            self.walk(node.selection_set, None, depth, parents, visiting)
            return
        field_type = get_named_type(field_def.type)
        if field_type.name.endswith(CONNECTION_SUFFIX):
            sizes = tuple(
                size
                for argument in node.arguments or ()
                if argument.name.value in PAGE_ARGUMENTS
                for size in [_page_size(argument.name.value, argument.value)]
                if size is not None
            )
            use = ConnectionUse(sizes, _connection_default(field_def), parents)
            self.shape.connections.append(use)
            parents = (*parents, use)
        self.walk(node.selection_set, field_type, depth, parents, visiting)


def _operation_root(schema: GraphQLSchema, operation: OperationDefinitionNode) -> Any:
    if operation.operation is OperationType.MUTATION:
        return schema.mutation_type
    if operation.operation is OperationType.SUBSCRIPTION:
        return schema.subscription_type
    return schema.query_type


def shape_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    depth_cap: int = MAX_SHAPE_DEPTH,
) -> OperationShape:
    """The walk stops below `depth_cap`; fragment chains the token limit allows stay far
    within Python's recursion limit, and if one did not, it counts as too deep."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _ShapeWalker(schema, fragments, depth_cap)
    try:
        walker.walk(operation.selection_set, _operation_root(schema, operation), 0, (), frozenset())
    except RecursionError:
        return OperationShape(depth=sys.maxsize)
    return walker.shape


class _ShapeCache:
    """Shapes per parsed document. The parser cache hands out one document object per
    query text, so keying by identity (and keeping the document alive) is exact."""

    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self.entries: OrderedDict[tuple[int, str | None], tuple[DocumentNode, OperationShape]]
        self.entries = OrderedDict()

    def get(
        self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
    ) -> OperationShape:
        name = operation.name.value if operation.name else None
        key = (id(document), name)
        found = self.entries.get(key)
        if found is not None and found[0] is document:
            self.entries.move_to_end(key)
            return found[1]
        shape = shape_of(schema, document, operation)
        self.entries[key] = (document, shape)
        if len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)
        return shape


_shapes = _ShapeCache()


# -------------------------------------------------------------------- evaluation


def _resolved(size: PageSize, variables: Mapping[str, Any] | None) -> int | None:
    """The page size a request asks for; None when it falls back to the default."""
    if size.literal is not None:
        return size.literal
    if variables is None or size.variable is None:
        return None
    value = variables.get(size.variable)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None  # absent, null, or not an integer (variable coercion refuses the latter)


def page_size_errors(
    shape: OperationShape,
    limits: Limits,
    variables: Mapping[str, Any] | None,
    *,
    literal_only: bool,
) -> list[GraphQLError]:
    errors = []
    for size in shape.page_sizes:
        if literal_only and size.literal is None:
            continue
        value = _resolved(size, variables)
        if value is not None and not 1 <= value <= limits.max_page:
            errors.append(
                limit_error(
                    "pageSize",
                    limits.max_page,
                    f"{size.argument} must be between 1 and {limits.max_page}, got {value}"
                    " (limit: pageSize)",
                    field=size.argument,
                )
            )
    return errors


def node_count(
    shape: OperationShape, variables: Mapping[str, Any] | None, *, literal_only: bool
) -> int | None:
    """Nodes the operation may return: each connection's page size times the page sizes
    of the connections around it, summed (GitHub's formula). With `literal_only`, None
    when any size comes from a variable: that case is checked per request."""
    memo: dict[int, int] = {}

    def size_of(use: ConnectionUse) -> int | None:
        if id(use) in memo:
            return memo[id(use)]
        values = []
        for size in use.sizes:
            if literal_only and size.literal is None:
                return None
            value = _resolved(size, variables)
            if value is not None:
                values.append(max(value, 0))
        result = min(values) if values else use.default
        memo[id(use)] = result
        return result

    total = 0
    for use in shape.connections:
        product = 1
        for part in (*use.parents, use):
            value = size_of(part)
            if value is None:
                return None
            product *= value
        total += product
    return total


def budget_error(count: int | None, limits: Limits) -> GraphQLError | None:
    if count is not None and count > limits.max_nodes:
        return limit_error(
            "nodes",
            limits.max_nodes,
            f"the operation may return {count} nodes, more than the {limits.max_nodes} "
            "allowed (limit: nodes); ask for smaller pages",
        )
    return None


def _select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


def check_variables(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> list[GraphQLError]:
    """The limits that depend on variable values; run on every request after validation.

    Any execution path that validates with the schema's rules must call this too.
    """
    operation = _select_operation(document, operation_name)
    if operation is None:
        return []  # execution reports the missing or ambiguous operation
    shape = _shapes.get(schema, document, operation)
    if not shape.connections:
        return []
    errors = page_size_errors(shape, limits, variables, literal_only=False)
    if errors:
        return errors
    error = budget_error(node_count(shape, variables, literal_only=False), limits)
    return [error] if error is not None else []


# ------------------------------------------------------------------------- rules


def limit_rules(
    limits: Limits, *, introspection: bool = True
) -> tuple[type[ASTValidationRule], ...]:
    """The validation rules enforcing `limits`; the schema's one list of extra rules.

    Classes are made once per schema so the validation cache (keyed by rule classes)
    keeps hitting.
    """

    class TokenLimit(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            if node.loc is not None:
                error = token_error(node.loc.source.body, limits)
                if error is not None:
                    self.report_error(error)

    class AliasLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.aliases = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, *_: Any) -> None:
            if self.aliases > limits.max_aliases:
                self.report_error(
                    limit_error(
                        "aliases",
                        limits.max_aliases,
                        f"the document uses {self.aliases} aliases, more than the "
                        f"{limits.max_aliases} allowed (limit: aliases)",
                    )
                )

    class ShapeLimits(ValidationRule):
        """Depth, literal page sizes and the literal node budget of each operation."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            context = self.context
            shape = _shapes.get(context.schema, context.document, node)
            if shape.depth > limits.max_depth:
                self.report_error(
                    limit_error(
                        "depth",
                        limits.max_depth,
                        f"the operation is nested {shape.depth} fields deep, more than the "
                        f"{limits.max_depth} allowed (limit: depth)",
                    )
                )
                return
            errors = page_size_errors(shape, limits, None, literal_only=True)
            for error in errors:
                self.report_error(error)
            over = (
                None if errors else budget_error(node_count(shape, None, literal_only=True), limits)
            )
            if over is not None:
                self.report_error(over)

    rules: list[type[ASTValidationRule]] = [TokenLimit, AliasLimit, ShapeLimits]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


# --------------------------------------------------------------------- extension


class OperationLimits(SchemaExtension):
    """Applies the limits inside Strawberry's pipeline.

    Tokens are counted before parsing (a huge document never reaches the parser), the
    document rules join validation (and its cache), and the variable-dependent checks run
    on every request once validation has passed, before any resolver.
    """

    def __init__(self, limits: Limits, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self.limits = limits
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *self.rules)
        yield

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and self.execution_context.graphql_document is None:
            error = token_error(query, self.limits)
            if error is not None:
                raise error
        yield

    def on_execute(self) -> Iterator[None]:
        """Validation has passed; a refusal set as the result means execution never starts."""
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            errors = check_variables(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
                self.limits,
            )
            if errors:
                context.result = GraphQLExecutionResult(data=None, errors=errors)
        yield
