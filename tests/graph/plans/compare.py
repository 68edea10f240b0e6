"""One request through both paths: the standard answer, then the planned one, compared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import orjson
from starlette.applications import Starlette
from strawberry.types.graphql import OperationType

from db.records import Principal
from db.store.engine import Database
from graph.http.graphql import GraphQLEndpoint
from graph.plan.runner import OperationRunner, response_body
from graph.schema.context import Context
from tests.graph.plans.generate import Case, describe

QUERIES = (OperationType.QUERY,)
Outcome = Literal["planned", "declined", "unplanned", "missed", "mismatch"]


@dataclass
class Tally:
    planned: int = 0
    # The standard path answered with errors, and the plan (rightly) declined.
    declined: int = 0
    # The document never reached data, so it has no plans.
    unplanned: int = 0
    mismatches: list[str] = field(default_factory=list)
    # Error-free answers that a planned document left to the standard path.
    missed: list[str] = field(default_factory=list)

    def report(self) -> str:
        return (
            f"planned {self.planned}, declined (errors) {self.declined}, "
            f"without plans {self.unplanned}, mismatches {len(self.mismatches)}, "
            f"missed {len(self.missed)}"
        )


async def compare(
    runner: OperationRunner, db: Database, principal: Principal, case: Case, tally: Tally
) -> Outcome:
    """Runs `case` on the standard path (`OperationRunner.execute` is `schema.execute`, and
    registers the document's plans when it reaches data), then planned; records the outcome.

    A planned answer must equal the standard bytes; one the standard path answers with
    errors must be declined (None), the standard path being the one that reports them.
    """
    query, variables = case

    def context() -> Context:
        return Context(db=db, principal=principal, session_ttl_seconds=3600)

    result = await runner.execute(query, variables, context(), None, QUERIES)
    expected = orjson.dumps(response_body(result))
    try:
        got = await runner.planned(query, variables, context(), None)
    except Exception as error:  # the standard path answered; a plan must not fail
        tally.mismatches.append(f"{describe(case)}\nexpected: {expected!r}\nraised:   {error!r}")
        return "mismatch"
    if got is None:
        if runner.plans.get((query, None)) is None:
            tally.unplanned += 1
            return "unplanned"
        if result.errors:
            tally.declined += 1
            return "declined"
        tally.missed.append(f"{describe(case)}\nexpected: {expected!r}")
        return "missed"
    if got != expected:
        tally.mismatches.append(f"{describe(case)}\nexpected: {expected!r}\ngot:      {got!r}")
        return "mismatch"
    tally.planned += 1
    return "planned"


def runner_of(app: Starlette) -> OperationRunner:
    """The runner behind an app's `/graphql` (inside its `KeyRequired` guard)."""
    for route in app.routes:
        if getattr(route, "path", None) == "/graphql" and hasattr(route, "endpoint"):
            endpoint = route.endpoint.app
            assert isinstance(endpoint, GraphQLEndpoint)
            return endpoint.runner
    raise AssertionError("no /graphql route")
