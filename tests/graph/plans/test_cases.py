"""Chosen reads, each with what the runner must do with it: plan it (and answer exactly as
the standard path does) or decline it (the standard path reports the error).

Tokens (`@@s:long@@`, …) stand for the dataset's ids, cursors and user ids; see
tests/graph/plans/dataset.py for what each session holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from db.records import Principal
from db.store.engine import Database
from graph.plan.runner import OperationRunner
from graph.schema.build import build_schema
from tests.conftest import new_key
from tests.graph.plans.compare import Tally, compare
from tests.graph.plans.dataset import FORGED_CURSORS, Dataset, make_dataset, raw_cursor
from tests.graph.plans.generate import fill

schema = build_schema()
PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
WINDOW = f"totalCount {PAGE} nodes {{ sequence }} edges {{ cursor }}"
LONG = "@@s:long@@"
P, D = "planned", "declined"
Run = tuple[dict[str, Any], str]


def case(name: str, query: str, *runs: Run) -> Any:
    return pytest.param(query, list(runs) or [({}, P)], id=name)


def window(arguments: str) -> str:
    return f'{{ session(id: "{LONG}") {{ eventCount events({arguments}) {{ {WINDOW} }} }} }}'


WINDOWS = [
    'after: "240", first: 5',
    'after: "245", first: 5',
    'after: "245", first: 6',
    'after: "249"',
    'after: "250"',
    'after: "251"',
    'after: "0"',
    'after: "0001", first: 2',
    'before: "251", last: 3',
    'before: "250", last: 100',
    'before: "2", last: 5',
    'before: "1"',
    'before: "0"',
    "last: 1",
    "last: 100",
    'first: 100, after: "150"',
    'after: "248", before: "250"',
    'after: "250", before: "1"',
    'after: "100", before: "90"',
    "first: 3, last: 2",
    'first: 10, after: "200", last: 4, before: "205"',
    'after: "999999999999"',
    'before: "999999999999", last: 2',
    'after: "2147483647", first: 100',
    'before: "4294967296"',
    'before: "2147483648", first: 1',
]
WINDOW_VARIABLES = (
    "query($f: Int, $a: String, $l: Int, $b: String) {"
    f' session(id: "{LONG}") {{ events(first: $f, after: $a, last: $l, before: $b) {{ {WINDOW} }} }} }}'
)
SESSIONS_PAGE = (
    "query($n: Int, $a: String, $o: SessionOrder) { sessions(first: $n, after: $a, orderBy: $o)"
    f" {{ totalCount {PAGE} edges {{ cursor node {{ id status }} }} }} }}"
)
ODD_FIELDS = (
    "id userId status catalogVersion schemaVersion prd plan assemblyState productObject"
    " productObjectHash createdAt updatedAt expiresAt eventCount"
)

CASES = [
    *[case(f"window({w})", window(w)) for w in WINDOWS],
    case(
        "window variables",
        WINDOW_VARIABLES,
        ({"a": "245", "f": 5}, P),
        ({"l": 3, "b": "251"}, P),
        ({}, P),
        ({"f": None, "a": None, "l": None, "b": None}, P),
        ({"a": "x"}, D),
        ({"b": ""}, D),
        ({"a": "-1"}, D),
        ({"b": "9999999999999"}, D),
        ({"f": 0}, D),
        ({"l": -1}, D),
        ({"f": 101}, D),
        ({"f": "3"}, D),
        ({"a": "2147483648", "l": 100}, P),
    ),
    case(
        "empty log",
        f'{{ session(id: "@@s:empty@@") {{ eventCount events {{ {WINDOW} }}'
        f' last: events(last: 5, before: "3") {{ {WINDOW} }} }} }}',
    ),
    case(
        "empty pages of sessions",
        f'{{ a: sessions(filter: {{userId: "nobody"}}) {{ totalCount edges {{ cursor }} {PAGE} }}'
        f' b: sessions(after: "@@c:last@@") {{ totalCount nodes {{ id }} {PAGE} }}'
        f' c: sessions(filter: {{status: [PENDING], userId: "@@u:2@@"}}) {{ nodes {{ id }} }} }}',
    ),
    case(
        "expired sessions read as expired",
        '{ a: session(id: "@@s:expired@@") { status expiresAt }'
        ' b: session(id: "@@s:swept@@") { status } c: session(id: "@@s:completed@@") { status }'
        ' d: node(id: "@@s:expired@@") { ... on Session { status } }'
        ' e: session(id: "@@s:far@@") { status expiresAt } }',
    ),
    case(
        "status filter on the status readers see",
        "{ a: sessions(filter: {status: [EXPIRED]}) { totalCount nodes { id status } }"
        " b: sessions(filter: {status: [ASSEMBLING, COMPLETED, EXPIRED]}) { totalCount nodes { id status } }"
        " c: sessions(filter: {status: [PENDING, GENERATING]}, orderBy: CREATED_AT_ASC) { totalCount nodes { id status } } }",
    ),
    # A filter on terminal statuses only, with no `status` field shown: the statement
    # needs no current time.
    case("terminal status filter, count", "{ sessions(filter: {status: []}) { totalCount } }"),
    case(
        "terminal status filter, rows",
        "{ sessions(filter: {status: [CANCELLED]}) { nodes { id } } }",
    ),
    case(
        "terminal status filter, page info",
        "{ sessions(filter: {status: [COMPLETED, FAILED]}) { pageInfo { hasNextPage endCursor } } }",
    ),
    case(
        "status filter by variable",
        "query($s: [SessionStatus!]) { sessions(filter: {status: $s}) { totalCount nodes { id } } }",
        ({"s": ["EXPIRED"]}, P),
        ({"s": ["PENDING", "PENDING"]}, P),
        ({"s": None}, P),
        ({"s": ["CANCELLED"]}, P),
        ({"s": []}, P),
        ({"s": "PENDING"}, P),  # one value where a list is expected is a list of one
        ({"s": ["LOST"]}, D),
    ),
    case(
        "filter by variable",
        "query($f: SessionFilter) { sessions(filter: $f) { totalCount nodes { id userId } } }",
        ({"f": {"status": "EXPIRED"}}, P),
        ({"f": {"userId": "@@u:1@@", "status": None}}, P),
        ({"f": {}}, P),
        ({"f": None}, P),
        ({}, P),
        ({"f": {"userId": "a\x00b"}}, D),
        ({"f": {"user_id": "x"}}, D),
    ),
    case(
        "foreign ids read as missing",
        '{ session(id: "@@f:session@@") { id } node(id: "@@f:event@@") { id }'
        ' n2: node(id: "@@f:session@@") { id } s2: session(id: "@@f:event@@") { id } }',
    ),
    case(
        "a foreign cursor pages from where it says",
        f'{{ sessions(after: "@@f:cursor@@") {{ totalCount nodes {{ id }} {PAGE} }} }}',
    ),
    case(
        "node by id kind",
        "query($id: ID!) { node(id: $id) { __typename id ... on Session { status eventCount }"
        " ... on Event { sequence sessionId type payload } } }",
        ({"id": "@@s:odd@@"}, P),
        ({"id": "@@e:0@@"}, P),
        ({"id": "@@f:session@@"}, P),
        ({"id": "@@f:event@@"}, P),
        ({"id": "sess_0123456789abcdef"}, P),
        ({"id": "evt_0123456789abcdef"}, P),
        ({"id": "nope"}, P),
        ({"id": "sess_0123456789ABCDEF"}, P),
        ({"id": ""}, P),
        ({"id": 7}, P),
        ({"id": None}, D),
        ({"id": 1.5}, D),
    ),
    case(
        "malformed id literals",
        '{ a: node(id: "sess_") { id } b: session(id: 5) { id } c: node(id: "evt_ü123456789abcde") { id }'
        ' d: session(id: "sess_0123456789abcde\\u0000") { id } e: node(id: "key_0123456789abcdef") { id } }',
    ),
    case(
        "user filter: unicode and control characters",
        "query($u: String) { sessions(filter: {userId: $u}) { totalCount nodes { userId"
        " catalogVersion events { nodes { userId message } } } } }",
        ({"u": "@@u:0@@"}, P),
        ({"u": "@@u:1@@"}, P),
        ({"u": "@@u:2@@"}, P),
        ({"u": ""}, P),
        ({"u": None}, P),
        ({"u": "a\x00b"}, D),
        ({"u": "\ud800"}, D),
    ),
    case(
        "user filter literal with control characters",
        '{ sessions(filter: {userId: "@@u:2@@"}) { totalCount nodes { id userId } } }',
    ),
    case(
        "unicode, control characters and large JSON",
        f'{{ session(id: "@@s:odd@@") {{ {ODD_FIELDS} events {{ nodes {{ id stage message payload type userId }} }} }} }}',
    ),
    case(
        "large JSON in a page",
        f"{{ sessions(first: 100) {{ nodes {{ {ODD_FIELDS} }} }} }}",
    ),
    case(
        "session cursors",
        SESSIONS_PAGE,
        ({"n": 3}, P),
        ({"n": 3, "a": "@@c:2@@"}, P),
        ({"n": 3, "a": "@@c:9@@"}, P),
        ({"n": 3, "a": "@@c:last@@"}, P),
        ({"n": 3, "a": "@@c:2@@", "o": "CREATED_AT_ASC"}, P),
        ({"n": 1, "a": "@@c:0@@", "o": "CREATED_AT_ASC"}, P),
        ({"a": FORGED_CURSORS[0]}, P),
        ({"a": FORGED_CURSORS[1], "o": "CREATED_AT_ASC"}, P),
        ({"a": FORGED_CURSORS[2]}, P),
        ({"a": "@@f:cursor@@"}, P),
        ({"a": "x"}, D),
        ({"a": ""}, D),
        ({"a": raw_cursor("2024-01-01T00:00:00.000Z|evt_0123456789abcdef")}, D),
        ({"n": 0}, D),
        ({"n": -1}, D),
        ({"n": 101}, D),
        ({"n": 100}, P),
        ({"n": None}, P),
        ({"o": "DOWN"}, D),
    ),
    # `orderBy` is non-null with a default: only an absent variable gets the default; an
    # explicit null is an error on the standard path.
    case(
        "orderBy variable null",
        "query($o: SessionOrder) { sessions(orderBy: $o) { nodes { id } } }",
        ({"o": "CREATED_AT_ASC"}, P),
        ({}, P),
        ({"o": None}, D),
    ),
    case(
        "orderBy variable with a default, null",
        "query($o: SessionOrder = CREATED_AT_ASC) { sessions(orderBy: $o) { nodes { id } } }",
        ({}, P),
        ({"o": "CREATED_AT_DESC"}, P),
        ({"o": None}, D),
    ),
    case(
        "directives by variable",
        f'query($i: Boolean!, $s: Boolean!) {{ session(id: "{LONG}") {{ id @include(if: $i)'
        " status @skip(if: $s) ... on Session @include(if: $i) { eventCount }"
        " e: events(last: 2) @skip(if: $s) { nodes { sequence } } ...F @include(if: $s) } }"
        " fragment F on Session { createdAt events(first: 1) { nodes { id } } }",
        ({"i": True, "s": True}, P),
        ({"i": True, "s": False}, P),
        ({"i": False, "s": True}, P),
        ({"i": False, "s": False}, P),
        ({"i": None, "s": False}, D),
        ({"i": True}, D),
    ),
    case(
        "directives with defaults and literals",
        f'query($i: Boolean = false) {{ session(id: "{LONG}") {{ id @include(if: $i)'
        " status @skip(if: true) a: eventCount @include(if: false) b: eventCount @skip(if: false) } }",
        ({}, P),
        ({"i": True}, P),
    ),
    case(
        "repeated fields merged under one key",
        f'{{ session(id: "{LONG}") {{ id id a: status a: status events(first: 2) {{ totalCount }}'
        " events(first: 2) { nodes { sequence } } ...F"
        " ... on Session { id events(first: 2) { pageInfo { endCursor } nodes { id } } } } }"
        " fragment F on Session { id status events(first: 2) { totalCount } }",
    ),
    case(
        "__typename everywhere",
        "{ __typename t: __typename sessions { __typename edges { __typename cursor node { __typename"
        " events(first: 1) { __typename edges { __typename node { __typename } } pageInfo { __typename } } } }"
        ' pageInfo { __typename } } n: node(id: "@@e:0@@") { __typename } }',
    ),
    case(
        "fragments on Node, Session and Event",
        'query { a: node(id: "@@e:1@@") { ...N ...S ...E } b: node(id: "@@s:generating@@") { ...N ...S ...E }'
        ' c: session(id: "@@s:generating@@") { ...N ...S events { nodes { ...N ...E } } } }'
        " fragment N on Node { id __typename } fragment S on Session { status eventCount }"
        " fragment E on Event { sequence type stage payload }",
    ),
    case(
        "nothing selected",
        "query($no: Boolean = false) { a: __typename @include(if: $no) b: sessions @skip(if: true) { totalCount } }",
        ({}, P),
        ({"no": True}, P),
    ),
    case(
        "objects with nothing selected",
        f'{{ session(id: "{LONG}") {{ id @skip(if: true) }} s: session(id: "{LONG}") {{ events(last: 2) {{ nodes {{ id @skip(if: true) }}'
        " edges { node { id @include(if: false) } } pageInfo { endCursor @skip(if: true) } } }"
        " sessions { nodes { id @skip(if: true) } edges { node { ... on Session @skip(if: true) { id } } } } }",
    ),
    case(
        "skip and include on one field",
        "query($a: Boolean!, $b: Boolean!) { sessions(first: 2) { nodes { id @skip(if: $a) @include(if: $b) status } } }",
        ({"a": False, "b": True}, P),
        ({"a": True, "b": True}, P),
        ({"a": False, "b": False}, P),
        ({"a": True, "b": False}, P),
    ),
    case(
        "inline fragments without a type",
        f'{{ session(id: "{LONG}") {{ ... {{ id ... {{ status }} }} ... on Node {{ id }} }} }}',
    ),
]


# One dataset per database for the whole module: the cases only read.
_datasets: dict[str, tuple[Principal, Dataset]] = {}


@pytest.fixture
async def dataset(db: Database, database_url: str) -> Dataset:
    if database_url not in _datasets:
        principal, _ = await new_key(db)
        _datasets[database_url] = (principal, await make_dataset(db, principal, schema))
    return _datasets[database_url][1]


@pytest.mark.parametrize(("query", "runs"), CASES)
async def test_case(db: Database, dataset: Dataset, query: str, runs: list[Run]) -> None:
    runner = OperationRunner(schema)
    cases = fill(dataset, [(query, variables) for variables, _ in runs])
    for (text, variables), (_, wanted) in zip(cases, runs, strict=True):
        tally = Tally()
        outcome = await compare(runner, db, dataset.principal, (text, variables), tally)
        if outcome != wanted:
            details = "\n".join(tally.mismatches or tally.missed) or text
            pytest.fail(f"{outcome}, not {wanted}:\n{details}", pytrace=False)
