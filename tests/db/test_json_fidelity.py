"""Stored JSON comes back as the server parsed it, on both engines and every read path:
key order kept, floats stay floats (1e19 is not 10000000000000000000), -0.0 keeps its
sign. PostgreSQL's `jsonb` normalised all three, so its columns are `json` (kept as text)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from db import events as event_ops
from db import sessions as session_ops
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database
from db.windows import EventWindow
from graph.rest import reads as rest_reads
from tests.support.sessions import session_and_log

# Written as a client would send it: keys deliberately out of order (jsonb sorts them by
# length, then bytes), floats that look like integers, signed zeros, extreme integers.
FIDELITY_TEXT = (
    '{"zeta":1,"alpha":{"b":2,"a":1,"B":3,"aa":4,"":5,"10":6,"9":7},'
    '"big":1e19,"bigger":1.8e19,"negZero":-0.0,"zeros":[-0.0,0.0,0,-0],"one":1.0,"tiny":5e-324,'
    '"fractions":[0.1,0.3333333333333333,1e-7,-2.5e-10,123456.789],'
    '"ints":[18446744073709551615,-9223372036854775808,9007199254740993,0,-1],'
    '"text":"é ✓ 🚀 \\u2028 tab\\t quote\\" back\\\\ slash/ <>&","ключ":{"🔑":"значение"},'
    '"nested":[[1,[2,[3,[]]]],{},[],[{"y":1,"x":[-0.0,0.0]}]],"bools":[true,false,null],'
    '"z":{"z":{"y":{"x":1.0}}},"a":null}'
)
SHAPES: list[dict[str, Any]] = [
    orjson.loads(FIDELITY_TEXT),
    {"b": 1, "a": 2},
    {"n": 1e19, "m": -0.0, "k": 2.0},
    {"deep": [[[[{"d": 1, "c": 2, "b": 3, "a": 4}]]]]},
]


def written(value: Any) -> bytes:
    """orjson writes -0.0 as `-0.0`, a float as a float, keys in order: equal bytes mean
    equal values in every way a client can see."""
    return orjson.dumps(value)


@pytest.mark.parametrize("value", SHAPES)
async def test_session_json_reads_back_as_written(
    db: Database, principal: Principal, value: dict[str, Any]
) -> None:
    fields = {"prd": value, "product_object": value, "assembly_state": value}
    created = await session_ops.create_session(db, principal, fields)
    other = await session_ops.create_session(db, principal, {})
    updated = await session_ops.update_session(db, principal, other.id, fields)
    expected = written(value)
    for record in (created, updated):
        assert [written(getattr(record, f)) for f in fields] == [expected] * 3
    reads = [
        await session_ops.get_session(db, principal, created.id),
        *(await session_ops.sessions_by_id(db, principal, [created.id, other.id])).values(),
        *(await session_ops.list_sessions(db, principal)).items,
        *(await session_ops.list_sessions(db, principal, statuses=["pending"])).items,
        (await session_and_log(db, principal, created.id))[0],
    ]
    assert len(reads) == 8
    for record in reads:
        assert [written(getattr(record, f)) for f in fields] == [expected] * 3, record.id
    # The body the database writes splices the stored text: the same bytes.
    found = await read_sql.read_row(
        db, principal.organization_id, rest_reads.SESSION_DOCUMENT, [updated.id]
    )
    assert found is not None and found[0].count(expected.decode()) == 3


@pytest.mark.parametrize("value", SHAPES)
async def test_event_payloads_read_back_as_written(
    db: Database, principal: Principal, value: dict[str, Any]
) -> None:
    session = await session_ops.create_session(db, principal, {})
    lean = await event_ops.append_event(db, principal, session.id, type="info", payload=value)
    async with db.write() as conn:  # the path an Idempotency-Key takes
        joined = await event_ops.append_event(
            db, principal, session.id, type="info", payload=value, conn=conn
        )
    expected = written(value)
    assert written(lean.payload) == written(joined.payload) == expected
    window = EventWindow(low=1, high=2, has_previous_page=False, has_next_page=False)
    found = await event_ops.events_in_windows(db, [(session.id, window)])
    _, events = await session_and_log(db, principal, session.id)
    reads = [
        *found[(session.id, window)],
        *events,
        await event_ops.find_event(db, principal, lean.id),
    ]
    assert len(reads) == 5
    for read in reads:
        assert read is not None and written(read.payload) == expected
    found = await read_sql.read_row(
        db, principal.organization_id, rest_reads.SESSION_DOCUMENT, [session.id]
    )
    assert found is not None and found[0].count(expected.decode()) == 2
