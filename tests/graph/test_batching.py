"""Nested reads batch: the statements a query runs depend on its shape, not its page size."""

from __future__ import annotations

import pytest

from db.store.engine import Database
from tests.support.graphql import GraphQLClient
from tests.support.statements import count_statements

# Statement counts: through PgBouncer too (tests/conftest.py).
pytestmark = pytest.mark.pgbouncer

Q2 = "query($n: Int!) { sessions(first: $n) { nodes { id status events(first: 20) { nodes { id type message } } } } }"


async def _seed(gql: GraphQLClient, sessions: int, events: int) -> None:
    for _ in range(sessions):
        sid = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"][
            "id"
        ]
        for _ in range(events):
            await gql.data(
                'mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO, message: "m"}) { id } }',
                {"s": sid},
            )


async def test_statement_count_is_fixed_by_shape(gql: GraphQLClient, db: Database) -> None:
    await _seed(gql, 50, 3)
    counts = []
    for size in (5, 50, 5, 50):
        with count_statements(db, leases=False) as counter:
            data = await gql.data(Q2, {"n": size})
        assert len(data["sessions"]["nodes"]) == size
        assert all(len(n["events"]["nodes"]) == 3 for n in data["sessions"]["nodes"])
        counts.append(counter.count)
    # The first run is Strawberry's (key lookup, the page of sessions, one batch of
    # events); once the document has passed it, the read is planned: one statement checks
    # the key and returns the answer, whatever the page size.
    assert counts == [3, 1, 1, 1]
