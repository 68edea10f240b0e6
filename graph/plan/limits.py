"""Operation limits: a hostile or careless query is refused before it costs any SQL.

Every phase before execution has a bound: a document's bytes and tokens are counted before
it is parsed, and the shape that the other limits read is measured in time linear in the
document whatever its fragments do (`graph/plan/shape.py`). A document whose
fragments expand to more fields than allowed is refused there, so the walkers that expand
fragments later (column selection, the compiled path) only ever see bounded documents.

Depth, expanded fields, aliases, tokens, literal page sizes and the literal part of the
node budget depend only on the document, so they are graphql-core validation rules and
share the validation cache. Page sizes and budgets that come from variables change per
request while the document (and so its cached validation) stays the same, so
`check_variables` runs them on every request just before execution; it reuses the
document's shape, which is computed once per parsed document.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    Lexer,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    Source,
    TokenKind,
    ValidationContext,
    ValidationRule,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from strawberry.extensions import SchemaExtension

from db.windows import MAX_PAGE
from graph.framework import core_schema
from graph.plan.shape import ConnectionUse, OperationShape, PageSize, shape_of

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
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_document_bytes=settings.graphql_max_document_bytes,
            max_fields=settings.graphql_max_fields,
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


def document_bytes_error(body: str, limits: Limits) -> GraphQLError | None:
    """Checked before the lexer, whose work on one huge token grows with its length."""
    maximum = limits.max_document_bytes
    if len(body) > maximum or (len(body) * 4 > maximum and len(body.encode()) > maximum):
        return limit_error(
            "bytes",
            maximum,
            f"the document is larger than {maximum} bytes (limit: bytes); "
            "send large values as variables",
        )
    return None


def token_error(body: str, limits: Limits) -> GraphQLError | None:
    if count_tokens(body, limits.max_tokens) > limits.max_tokens:
        return limit_error(
            "tokens",
            limits.max_tokens,
            f"the document has more than {limits.max_tokens} tokens (limit: tokens)",
        )
    return None


# ----------------------------------------------------------------------- the shape


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
    """Nodes the operation may return (see `OperationShape.node_count`). With
    `literal_only`, None when any size comes from a variable: that case is checked per
    request."""
    if literal_only and any(size.literal is None for size in shape.page_sizes):
        return None

    def size_of(use: ConnectionUse) -> int:
        values = [
            max(value, 0)
            for size in use.sizes
            for value in [_resolved(size, variables)]
            if value is not None
        ]
        return min(values) if values else use.default

    return shape.node_count(size_of)


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
    if not shape.sizes_from_variables:
        return []  # literal sizes only: validation checked them, and the node budget
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
                body = node.loc.source.body
                error = document_bytes_error(body, limits) or token_error(body, limits)
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
                depth = "too many" if shape.too_deep else shape.depth
                self.report_error(
                    limit_error(
                        "depth",
                        limits.max_depth,
                        f"the operation is nested {depth} fields deep, more than the "
                        f"{limits.max_depth} allowed (limit: depth)",
                    )
                )
                return
            if shape.fields > limits.max_fields:
                self.report_error(
                    limit_error(
                        "fields",
                        limits.max_fields,
                        f"the operation selects more than {limits.max_fields} fields once its "
                        "fragments are expanded (limit: fields)",
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

    Bytes and tokens are counted before parsing (a huge document never reaches the
    parser), the
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
            error = document_bytes_error(query, self.limits) or token_error(query, self.limits)
            if error is not None:
                raise error
        yield

    def on_execute(self) -> Iterator[None]:
        """Validation has passed; a refusal set as the result means execution never starts."""
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
