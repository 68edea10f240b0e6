"""Operation limits: a hostile or careless query is refused before it costs any SQL.

Bytes and tokens are counted before parsing. What depends only on the document is a
validation rule (sharing the validation cache); page sizes from variables are checked per
request by `check_variables`, reusing the shape (graph/plan/shape.py) of the parsed document.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
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
    get_operation_ast,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from strawberry.extensions import SchemaExtension

from db.windows import MAX_PAGE
from graph.framework import core_schema
from graph.plan.shape import OperationShape, shape_of

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


# Shapes per parsed document: the parser cache hands out one document object per query
# text, so its identity (the document kept alive here) is an exact key.
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
    shape: OperationShape,
    limits: Limits,
    variables: Mapping[str, Any] | None,
    *,
    literal_only: bool,
) -> list[GraphQLError]:
    """Page sizes, then (when they pass) the node budget; with `literal_only`, no budget when
    a page size comes from a variable (checked per request)."""
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
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> list[GraphQLError]:
    """The limits that depend on variable values; every path that validates with the
    schema's rules must run this too, after validation."""
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
    """The schema's one list of extra validation rules, made once per schema so the
    validation cache (keyed by rule classes) keeps hitting."""

    class DocumentLimits(ValidationRule):
        """Bytes and tokens; per operation its depth, expanded fields, literal page sizes
        and literal node budget; aliases over the whole document."""

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
    """The limits inside Strawberry's pipeline: bytes and tokens before parsing, the rules
    in validation, the variable-dependent checks after it and before any resolver."""

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
