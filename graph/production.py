"""What the production profile hides from callers: hints about the schema's names."""

from __future__ import annotations

import re

from graphql import GraphQLError
from strawberry.types import ExecutionResult

_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def without_suggestion(error: GraphQLError) -> GraphQLError:
    """graphql-core suggests near names of fields, arguments, types and enum values;
    Strawberry's own switch covers only fields, so every kind is cut here."""
    message = _SUGGESTION.sub("", error.message)
    if message != error.message:
        error.message = message
    return error


def without_suggestions(result: ExecutionResult) -> ExecutionResult:
    if result.errors:
        result.errors = [without_suggestion(e) for e in result.errors]
    return result
