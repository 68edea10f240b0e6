"""What the production profile hides from callers (hints about the schema's names) and
which documents it runs."""

from __future__ import annotations

import re

from strawberry.types import ExecutionResult

_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def without_suggestions(result: ExecutionResult) -> ExecutionResult:
    """graphql-core suggests near names of fields, arguments, types and enum values;
    Strawberry's own switch covers only fields, so every kind is cut here."""
    for error in result.errors or ():
        error.message = _SUGGESTION.sub("", error.message)
    return result


def trusted_only(env: str, manifest: str | None, setting: bool | None) -> bool:
    """A production deployment that ships a manifest of trusted documents means to refuse
    every other document, so that is its default; an explicit setting wins either way."""
    if setting is not None:
        return setting
    return env == "production" and manifest is not None
