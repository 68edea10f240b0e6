"""Organisation B gets for each of A's ids exactly what it gets for an id that never existed."""

from __future__ import annotations

import json
from typing import Any

from db.store.engine import Database
from tests.conftest import new_key
from tests.support.graphql import GraphQLClient

NEVER = {"session": "sess_0123456789abcdef", "event": "evt_0123456789abcdef"}

OPERATIONS = [
    ("query($s: ID!) { session(id: $s) { id } }", {}),
    ("query($s: ID!) { node(id: $s) { id } }", {}),
    ("query($e: ID!) { node(id: $e) { id } }", {}),
    ("mutation($s: ID!) { updateSession(id: $s, input: {prd: {x: 1}}) { id } }", {}),
    ("mutation($s: ID!) { updateSession(id: $s, input: {status: CANCELLED}) { id } }", {}),
    ("mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO}) { id } }", {}),
    ("mutation($s: ID!) { deleteSession(id: $s) }", {}),
]


def _strip_ids(body: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(body)
    for value in ids.values():
        text = text.replace(value, "<id>")
    result: dict[str, Any] = json.loads(text)
    return result


async def test_foreign_ids_look_missing(gql: GraphQLClient, db: Database) -> None:
    session = (await gql.data("mutation { createSession(input: {prd: {secret: 1}}) { id } }"))[
        "createSession"
    ]["id"]
    event = (
        await gql.data(
            "mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO}) { id } }",
            {"s": session},
        )
    )["appendEvent"]["id"]
    _, other_key = await new_key(db)
    theirs = {"s": session, "e": event}
    never = {"s": NEVER["session"], "e": NEVER["event"]}
    for query, _ in OPERATIONS:
        foreign = await gql(query, theirs, key=other_key)
        missing = await gql(query, never, key=other_key)
        assert _strip_ids(foreign, theirs) == _strip_ids(missing, never), query
    lists = await gql.data("{ sessions { totalCount nodes { id } } }", key=other_key)
    assert lists == {"sessions": {"totalCount": 0, "nodes": []}}
    filtered = await gql.data(
        "{ sessions(filter: {status: [PENDING]}) { totalCount } }", key=other_key
    )
    assert filtered == {"sessions": {"totalCount": 0}}
    still = await gql.data("query($s: ID!) { session(id: $s) { prd eventCount } }", {"s": session})
    assert still == {"session": {"prd": {"secret": 1}, "eventCount": 1}}
