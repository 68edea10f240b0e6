"""Planned reads give byte-identical answers to Strawberry's standard execution.

Thousands of generated read operations (tests/graph/plans/generate.py: aliases, named and
inline fragments, `@include`/`@skip`, `__typename`, repeated fields, every argument at
and past its limits, own, foreign, missing and malformed ids, cursors handed out and
forged) run against data with unicode, control characters, large and deep JSON, empty
and 250-event logs and expired sessions (tests/graph/plans/dataset.py).

Each run goes through `OperationRunner.execute` (Strawberry's `schema.execute`, which also
registers the document's plans; its answer is the expected one) and then through
`OperationRunner.planned`. A planned answer must equal the standard bytes exactly; a
request the standard path answers with errors must not be planned. A request answered
without errors may still be left to the standard path when one of its arguments would be
refused under a field the answer never reaches (an event window on a session that turns
out to be missing): the plan checks every argument first. Those are few, and counted.
"""

from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette

from db.keys import set_plan
from db.records import Principal
from db.store.engine import Database
from graph.plan.runner import OperationRunner
from graph.schema.build import build_schema
from tests.graph.plans.compare import Tally, compare, runner_of
from tests.graph.plans.dataset import Dataset, make_dataset
from tests.graph.plans.generate import describe, generated
from tests.support.graphql import GraphQLClient

RUNS = 2000
# Over HTTP, planned reads check the key in their own statement: a differently rendered
# statement, compared on every fifth run.
HTTP_EVERY = 5

schema = build_schema()


@pytest.fixture
async def dataset(db: Database, principal: Principal) -> Dataset:
    return await make_dataset(db, principal, schema)


@pytest.mark.timeout(300)
async def test_generated_reads_match(db: Database, dataset: Dataset) -> None:
    started = time.monotonic()
    cases = generated(dataset, RUNS)
    drawn = time.monotonic()
    runner = OperationRunner(schema)
    assert runner.enabled
    tally = Tally()
    for case in cases:
        await compare(runner, db, dataset.principal, case, tally)
    print(  # shown with -s: how the runs split, and how long they took
        f"\n{db.url.get_backend_name()}{' (pgbouncer)' if db.pgbouncer else ''}: {len(cases)} runs; "
        f"{tally.report()}; drawn in {drawn - started:.1f} s, run in {time.monotonic() - drawn:.1f} s"
    )
    assert not tally.mismatches, (
        f"{len(tally.mismatches)} planned answers differ ({tally.report()}):\n\n"
        + "\n\n".join(tally.mismatches[:10])
    )
    assert len(tally.missed) < len(cases) // 50, "\n\n".join(tally.missed[:10])
    assert len(cases) >= RUNS
    assert tally.planned > RUNS // 2, tally.report()
    # Refused requests on documents that have plans: each came back None and the standard
    # path answered it.
    assert tally.declined > 100, tally.report()


@pytest.mark.timeout(300)
async def test_generated_reads_match_over_http(
    db: Database, dataset: Dataset, gql: GraphQLClient, app: Starlette
) -> None:
    """Each run is sent three times: with a comment appended (a new document, so the
    standard path answers), then twice as drawn (the second time planned, when the
    document has plans). Status and body must be the same each time."""
    await set_plan(db, dataset.principal.organization_id, max_requests_per_minute=1_000_000)
    cases = generated(dataset, RUNS)[::HTTP_EVERY]
    runner = runner_of(app)
    planned, mismatches = 0, []
    for number, (query, variables) in enumerate(cases):
        standard = await gql.post(f"{query} # {number}", variables)
        await gql.post(query, variables)
        planned += runner.plan_of(query, variables, None) is not None
        answer = await gql.post(query, variables)
        if (answer.status_code, answer.content) != (standard.status_code, standard.content):
            mismatches.append(
                f"{describe((query, variables))}\nexpected: {standard.status_code}"
                f" {standard.content!r}\ngot:      {answer.status_code} {answer.content!r}"
            )
    print(f"\nover HTTP: {len(cases)} runs, {planned} planned, {len(mismatches)} mismatches")
    assert not mismatches, f"{len(mismatches)} answers differ:\n\n" + "\n\n".join(mismatches[:10])
    assert planned > len(cases) // 2
