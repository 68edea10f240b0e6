"""A page of events reads only the columns its query selects, and still answers in full."""

from __future__ import annotations

from db.engine import Database
from tests.support.graphql import GraphQLClient
from tests.support.statements import count_statements

APPEND = (
    'mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: WARNING, stage: "s",'
    ' message: "m", payload: {k: 1}}) { id } }'
)


def columns_read(statements: list[str], table: str) -> str:
    """What the one statement reading `table` selects."""
    found = [s for s in statements if f"FROM {table}" in s]
    assert len(found) == 1, statements
    return found[0].split(f"FROM {table}")[0]


async def _session_with_events(gql: GraphQLClient) -> str:
    sid: str = (await gql.data("mutation { createSession(input: {}) { id } }"))["createSession"][
        "id"
    ]
    for _ in range(3):
        await gql.data(APPEND, {"s": sid})
    return sid


async def test_only_selected_columns_are_read(gql: GraphQLClient, db: Database) -> None:
    sid = await _session_with_events(gql)
    query = (
        "query($id: ID!) { session(id: $id) { events { nodes { id type"
        " ... on Node { id } ...F } pageInfo { endCursor } } } }"
        " fragment F on Event { message }"
    )
    for _ in range(2):  # the standard path, then the compiled plan
        with count_statements(db) as counter:
            data = await gql.data(query, {"id": sid})
        columns = columns_read(counter.statements, "events")
        assert "payload" not in columns and "created_at" not in columns and "stage" not in columns
        assert all(name in columns for name in ("id", "type", "message", "sequence"))
        nodes = data["session"]["events"]["nodes"]
        assert [n["type"] for n in nodes] == ["WARNING"] * 3
        assert all(n["message"] == "m" and n["id"].startswith("evt_") for n in nodes)
        assert data["session"]["events"]["pageInfo"]["endCursor"] is not None


async def test_whole_events_when_a_directive_is_present(gql: GraphQLClient, db: Database) -> None:
    sid = await _session_with_events(gql)
    query = (
        "query($id: ID!, $p: Boolean!) { session(id: $id) { events { edges { cursor node {"
        " id payload @include(if: $p) createdAt } } } } }"
    )
    for shown in (True, False):
        with count_statements(db) as counter:
            data = await gql.data(query, {"id": sid, "p": shown})
        assert "payload" in columns_read(counter.statements, "events")
        nodes = [e["node"] for e in data["session"]["events"]["edges"]]
        assert [("payload" in n) for n in nodes] == [shown] * 3
        if shown:
            assert nodes[0]["payload"] == {"k": 1}
        assert all(n["createdAt"].endswith("Z") for n in nodes)


SESSION_FIELDS = (
    "id organizationId userId status assemblyState catalogVersion plan prd productObject"
    " productObjectHash schemaVersion createdAt updatedAt expiresAt eventCount"
)
CREATE = (
    'mutation { createSession(input: {assemblyState: {step: 2}, catalogVersion: "v1",'
    ' prd: {name: "p"}, productObject: {type: "t"}, schemaVersion: "1.0.0"}) { id } }'
)


async def test_a_page_of_sessions_reads_only_the_json_columns_it_shows(
    gql: GraphQLClient, db: Database
) -> None:
    sid = (await gql.data(CREATE))["createSession"]["id"]
    alone = (
        await gql.data(
            f"query($id: ID!) {{ session(id: $id) {{ {SESSION_FIELDS} }} }}", {"id": sid}
        )
    )["session"]
    assert alone["prd"] == {"name": "p"} and alone["productObjectHash"]
    page = (
        "{ sessions { nodes { id status ...F } edges { node { ... on Session { catalogVersion } } } } }"
        " fragment F on Session { prd }"
    )
    for _ in range(2):  # the standard path, then the compiled plan
        with count_statements(db) as counter:
            data = await gql.data(page)
        columns = columns_read(counter.statements, "sessions")
        assert "prd" in columns and "catalog_version" in columns
        for left_out in ("assembly_state", "product_object", "schema_version", "plan"):
            assert left_out not in columns
        assert data["sessions"]["nodes"] == [
            {"id": sid, "status": alone["status"], "prd": alone["prd"]}
        ]
        assert data["sessions"]["edges"] == [{"node": {"catalogVersion": "v1"}}]
    everything = f"{{ sessions {{ nodes {{ {SESSION_FIELDS} }} }} }}"
    for _ in range(2):
        assert (await gql.data(everything))["sessions"]["nodes"] == [alone]


async def test_a_page_under_a_directive_reads_every_column(
    gql: GraphQLClient, db: Database
) -> None:
    sid = (await gql.data(CREATE))["createSession"]["id"]
    page = "query($x: Boolean!) { sessions { nodes { id prd @include(if: $x) } } }"
    for shown in (True, False):
        with count_statements(db) as counter:
            data = await gql.data(page, {"x": shown})
        assert "product_object" in columns_read(counter.statements, "sessions")
        expected = {"id": sid, "prd": {"name": "p"}} if shown else {"id": sid}
        assert data["sessions"]["nodes"] == [expected]
