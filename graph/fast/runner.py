"""Run a GraphQL request: a compiled executor for documents already proven good, else Strawberry.

The first request with a given document always takes Strawberry's standard path, which
parses it and validates it with every rule the schema is configured with (specified rules,
Strawberry's own, and any added through validation extensions). Only a document that got
through that path to execution is compiled; later requests with the same text and
operation name then skip parsing, validation and graphql-core's generic executor, and
their results pass through the same `with_codes` mapping. Anything the compiler does not
reproduce exactly stays on the standard path for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from graphql import parse
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graph.errors import with_codes
from graph.fanout import SharedEventExecutor
from graph.fast.compiler import CompiledOperation, Unsupported, compile_operation
from graph.limits import OperationLimits, check_variables
from graph.schema import Schema, timeout_error

log = logging.getLogger("sessiongraph.fast")

# Extensions the compiled path accounts for: those that act only while a document is
# parsed or validated (the first request runs them on the standard path, and their verdict
# holds for the same document later), and `OperationLimits`, whose per-request variable
# checks and timeout the runner applies itself.
KNOWN_EXTENSIONS = (
    ParserCache,
    ValidationCache,
    AddValidationRules,
    MaxTokensLimiter,
    OperationLimits,
)
# Execution contexts that run queries and mutations exactly as graphql-core does
# (`SharedEventExecutor` differs only for subscription events).
STANDARD_EXECUTION = (StrawberryGraphQLCoreExecutionContext, SharedEventExecutor)
PlanKey = tuple[str, str | None]


def fast_path_allowed(schema: Schema) -> bool:
    """Off when the schema runs anything per execution that compiled plans would skip."""
    if schema.execution_context_class not in STANDARD_EXECUTION:
        return False
    unknown = [e for e in schema.get_extensions() if not isinstance(e, KNOWN_EXTENSIONS)]
    if unknown:
        log.info("compiled execution off: extensions %s hook execution", unknown)
        return False
    return True


class OperationRunner:
    """Executes requests for one schema; keeps at most `max_plans` compiled documents."""

    def __init__(self, schema: Schema, *, max_plans: int = 512) -> None:
        self.schema = schema
        self.enabled = fast_path_allowed(schema)
        self.max_plans = max_plans
        # None marks a document that stays on the standard path.
        self.plans: dict[PlanKey, CompiledOperation | None] = {}
        # Strawberry's shared parser cache when configured: compiling then reuses the
        # document the standard path just parsed, so each document is parsed once.
        self.parse = next(
            (
                e.cached_parse_document
                for e in schema.get_extensions()
                if isinstance(e, ParserCache)
            ),
            parse,
        )

    def plan_for(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        return self.plans.get((query, operation_name))

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        allowed: Iterable[OperationType],
    ) -> ExecutionResult:
        """Raises Strawberry's `InvalidOperationTypeError` for an operation type not allowed."""
        key = (query, operation_name)
        plan = self.plans.get(key)
        allowed = tuple(allowed)
        if plan is not None and plan.operation_type.value in {a.value for a in allowed}:
            return with_codes(
                await self._run_plan(plan, query, variables, context, operation_name),
                production=self.schema.production,
            )
        result = await self.schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=allowed,
        )
        if self.enabled and result.data is not None and key not in self.plans:
            self._remember(key, self._compile(query, operation_name))
        return result

    async def _run_plan(
        self,
        plan: CompiledOperation,
        query: str,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
    ) -> ExecutionResult:
        """The checks `Schema.execute` applies around every execution, then the plan."""
        limits = self.schema.limits
        refused = check_variables(
            self.schema._schema, self.parse(query), operation_name, variables, limits
        )
        if refused:
            return ExecutionResult(data=None, errors=refused)
        try:
            async with asyncio.timeout(limits.timeout_seconds):
                data, errors = await plan.execute(context, variables)
        except TimeoutError:
            return ExecutionResult(data=None, errors=[timeout_error(limits)])
        return ExecutionResult(data=data, errors=errors)

    def _compile(self, query: str, operation_name: str | None) -> CompiledOperation | None:
        try:
            return compile_operation(self.schema._schema, self.parse(query), operation_name)
        except Unsupported as reason:
            log.debug("standard execution for %r: %s", operation_name or query[:60], reason)
            return None

    def _remember(self, key: PlanKey, plan: CompiledOperation | None) -> None:
        if len(self.plans) >= self.max_plans:
            self.plans.pop(next(iter(self.plans)))
        self.plans[key] = plan
