"""Run a GraphQL request: a read the database can answer alone, else Strawberry.

A query that got data on the standard path is planned; later requests with the same text
and operation name are one statement, unless a plan could not answer exactly as the
standard path would (docs/read-planner.md).
"""

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from graphql import OperationType, get_operation_ast, parse
from graphql.execution import get_variable_values
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.types import ExecutionResult

from db.store import read_sql
from db.store.read_plan import ReadPlan
from graph.framework import OperationType as AllowedType
from graph.framework import StrawberryGraphQLCoreExecutionContext, core_schema
from graph.live.fanout import SharedEventExecutor
from graph.plan.limits import OperationLimits, check_variables
from graph.plan.planner import OperationPlans
from graph.schema.build import Schema, timeout_error
from graph.schema.errors import with_codes

log = logging.getLogger("sessiongraph.plans")

# Extensions with nothing left to do after the standard path: parse and validation hooks,
# and `OperationLimits`, whose variable checks and timeout the runner applies itself.
KNOWN_EXTENSIONS = (ParserCache, ValidationCache, AddValidationRules, OperationLimits)
# Execution contexts that run queries exactly as graphql-core does.
STANDARD_EXECUTION = (StrawberryGraphQLCoreExecutionContext, SharedEventExecutor)


def planning_allowed(schema: Schema) -> bool:
    """Off when the schema runs anything per execution that a planned read would skip."""
    if schema.execution_context_class not in STANDARD_EXECUTION:
        return False
    unknown = [e for e in schema.get_extensions() if not isinstance(e, KNOWN_EXTENSIONS)]
    if unknown:
        log.info("planned reads off: extensions %s hook execution", unknown)
    return not unknown


class OperationRunner:
    def __init__(self, schema: Schema, *, max_plans: int = 512) -> None:
        self.schema = schema
        self.enabled = planning_allowed(schema)
        self.max_plans = max_plans
        # None marks an operation that stays on the standard path.
        self.plans: dict[tuple[str, str | None], OperationPlans | None] = {}
        # Strawberry's parser cache when configured: the document the standard path parsed.
        caches = [e for e in schema.get_extensions() if isinstance(e, ParserCache)]
        self.parse = caches[0].cached_parse_document if caches else parse

    async def planned(
        self, query: str, variables: dict[str, Any] | None, context: Any, operation_name: str | None
    ) -> bytes | ExecutionResult | None:
        """`{"data":…}` from one statement, the standard path's timeout error, or None."""
        found = self.plan_of(query, variables, operation_name)
        if found is None:
            return None
        plan, arguments = found
        try:
            async with asyncio.timeout(self.schema.limits.timeout_seconds):
                text = await read_sql.read(
                    context.db, context.principal.organization_id, plan, arguments
                )
        except TimeoutError:
            result = ExecutionResult(data=None, errors=[timeout_error(self.schema.limits)])
            return with_codes(result, production=self.schema.production)
        return b'{"data":' + text.encode() + b"}"

    def plan_of(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None
    ) -> tuple[ReadPlan, list[Any]] | None:
        """The plan and its arguments, or None for the standard path. Runs no SQL."""
        plans = self.plans.get((query, operation_name))
        if plans is None:
            return None
        schema = core_schema(self.schema)
        operation = plans.operation
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return None
        document = self.parse(query)
        if check_variables(schema, document, operation_name, variables, self.schema.limits):
            return None
        return plans.plan_for(coerced.coerced)

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        allowed: Iterable[AllowedType],
    ) -> ExecutionResult:
        """Strawberry's standard path; raises its `InvalidOperationTypeError` as it does."""
        key = (query, operation_name)
        result = await self.schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=tuple(allowed),
        )
        if self.enabled and result.data is not None and key not in self.plans:
            if len(self.plans) >= self.max_plans:
                self.plans.pop(next(iter(self.plans)))
            document = self.parse(query)
            operation = get_operation_ast(document, operation_name)
            self.plans[key] = None
            if operation is not None and operation.operation is OperationType.QUERY:
                self.plans[key] = OperationPlans(core_schema(self.schema), document, operation)
        return result


def is_request_error(result: ExecutionResult) -> bool:
    """Failed before execution: no data, and no error that belongs to a field (has a path)."""
    return (
        result.data is None and bool(result.errors) and all(not e.path for e in result.errors or ())
    )


def response_body(result: ExecutionResult) -> dict[str, Any]:
    """The GraphQL response map: `data` (absent for request errors), `errors`, `extensions`."""
    body: dict[str, Any] = {}
    if not is_request_error(result):
        body["data"] = result.data
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return body
