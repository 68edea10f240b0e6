"""The schema, assembled once; `schema.graphql` at the repo root is printed from it."""

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from graph.live.fanout import SharedEventExecutor
from graph.plan.limits import Limits, OperationLimits, limit_rules
from graph.schema.errors import stream_with_codes, with_codes
from graph.schema.mutation import Mutation
from graph.schema.query import Query
from graph.schema.scalars import SCALAR_MAP
from graph.schema.subscription import Subscription
from graph.schema.types import Event, Session

_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


class Schema(strawberry.Schema):
    """Strawberry's schema, every error given its `extensions.code` on the way out: here
    rather than in an extension, which would not see parse errors."""

    production = False
    limits = Limits()

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                result = await super().execute(*args, **kwargs)
        except TimeoutError:
            result = ExecutionResult(data=None, errors=[timeout_error(self.limits)])
        result = with_codes(result, production=self.production)
        if self.production:
            # graphql-core suggests near names of fields, arguments, types and enum values;
            # Strawberry's switch covers only fields, so every kind is cut here.
            for error in result.errors or ():
                error.message = _SUGGESTION.sub("", error.message)
        return result

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """Subscriptions and operations over WebSocket: every result gets codes too."""
        return stream_with_codes(await super().stream(*args, **kwargs), production=self.production)

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Callers' mistakes are not server errors; unexpected ones are logged by `with_codes`."""


def timeout_error(limits: Limits) -> GraphQLError:
    return GraphQLError(
        f"the operation took longer than {limits.timeout_seconds:g} s (limit: timeout)",
        extensions={"code": "TIMEOUT", "limit": "timeout", "max": limits.timeout_seconds},
    )


def build_schema(
    *, production: bool = False, limits: Limits | None = None, federation: bool = False
) -> Schema:
    """Parses and validations are cached (validation is half a small query's cost) after the
    limits, so a document over the token limit is never parsed; `federation`: a subgraph."""
    limits = limits or Limits()
    rules = limit_rules(limits, introspection=not production)
    arguments: dict[str, Any] = {
        "query": Query,
        "mutation": Mutation,
        "subscription": Subscription,
        "types": [Session, Event],
        "extensions": [
            lambda: AddValidationRules(list(rules)),
            lambda: OperationLimits(limits),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        "config": StrawberryConfig(
            auto_camel_case=True,
            scalar_map=SCALAR_MAP,
            disable_field_suggestions=production,
            batching_config=(
                {"max_operations": limits.max_operations} if limits.max_operations > 1 else None
            ),
        ),
        "execution_context_class": SharedEventExecutor,
    }
    if federation:
        from graph.schema.federation import federated_schema  # it builds on this module's `Schema`

        schema: Schema = federated_schema(**arguments)
    else:
        schema = Schema(**arguments)
    schema.production = production
    schema.limits = limits
    return schema


def printed_schema(*, federation: bool = False) -> str:
    """`schema.graphql`; with `federation`, the subgraph SDL a gateway composes."""
    return build_schema(federation=federation).as_str() + "\n"
