"""The schema, assembled once; `schema.graphql` at the repo root is printed from it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from graph.errors import stream_with_codes, with_codes
from graph.fanout import SharedEventExecutor
from graph.mutation import Mutation
from graph.query import Query
from graph.scalars import SCALAR_MAP
from graph.subscription import Subscription
from graph.types import Event, Session


class Schema(strawberry.Schema):
    """Strawberry's schema, with every error given its `extensions.code` on the way out.

    Mapping here rather than in an extension covers parse errors too, which Strawberry
    reports before extension hooks can see the result.
    """

    production = False

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        return with_codes(await super().execute(*args, **kwargs), production=self.production)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """Subscriptions and operations over WebSocket: every result gets codes too."""
        return stream_with_codes(await super().stream(*args, **kwargs), production=self.production)

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Callers' mistakes are not server errors; unexpected ones are logged by `with_codes`."""


def build_schema(*, production: bool = False) -> Schema:
    """Parse and validation results are cached: validation is half of a small query's cost."""
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Session, Event],
        extensions=[
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
        execution_context_class=SharedEventExecutor,
    )
    schema.production = production
    return schema


def printed_schema() -> str:
    return build_schema().as_str() + "\n"
