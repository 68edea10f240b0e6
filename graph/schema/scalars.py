"""Scalars: `DateTime` as RFC 3339 UTC strings ending in `Z`, `JSON` for free objects."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from graphql import (
    GraphQLError,
    StringValueNode,
    ValueNode,
    VariableNode,
    print_ast,
    value_from_ast_untyped,
)
from graphql.pyutils import inspect
from strawberry.scalars import JSON

from db.clock import parse_rfc3339, to_rfc3339
from graph.framework import ScalarDefinition

if TYPE_CHECKING:
    DateTime = datetime  # to a type checker a DateTime is simply a datetime
else:
    DateTime = NewType("DateTime", datetime)


def parse_date_time(value: Any, node: ValueNode | None = None) -> datetime:
    """A `DateTime` input, refused as a `GraphQLError`: graphql-core keeps any other
    exception as the cause, reported as INTERNAL, so `expiresAt: 5` or an offset carrying
    the time past year 9999 would look like a server fault."""
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime cannot represent a non-string value: {inspect(value)}", node)
    try:
        return parse_rfc3339(value)
    except ValueError as error:
        raise GraphQLError(f"DateTime cannot represent {inspect(value)}: {error}", node) from None


def parse_date_time_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> datetime:
    """`parse_date_time` of a literal, its error located there; only a string literal is a
    timestamp (`TOMORROW`, an enum value, is not)."""
    if not isinstance(node, StringValueNode | VariableNode):
        raise GraphQLError(f"DateTime cannot represent a non-string value: {print_ast(node)}", node)
    return parse_date_time(value_from_ast_untyped(node, variables), node)


SCALAR_MAP: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="RFC 3339 timestamp in UTC ending in `Z`, e.g. `2024-06-10T09:15:30.000Z`.",
        serialize=to_rfc3339,
        parse_value=parse_date_time,
        parse_literal=parse_date_time_literal,
    )
}

__all__ = ["JSON", "SCALAR_MAP", "DateTime"]
