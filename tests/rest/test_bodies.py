"""REST bodies: what the database writes for reads is byte for byte what the models write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from db import sessions as session_ops
from db.clock import to_rfc3339
from db.events import append_event
from db.records import EventRecord, Principal
from db.store import read_sql
from db.store.engine import Database
from graph.rest import reads
from graph.rest.models import Event, Session
from tests.support.sessions import session_and_log

_text = st.text(max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


def _event(payload: dict[str, Any] | None) -> EventRecord:
    return EventRecord(
        id="evt_0123456789abcdef",
        session_id="sess_0123456789abcdef",
        sequence=1,
        organization_id="org",
        user_id="user",
        type="info",
        stage=None,
        message="ünïcödé \x01 🎉",
        payload=payload,
        created_at=datetime(2024, 6, 10, 9, 15, 30, 120000, tzinfo=UTC),
    )


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_text, _json, max_size=5))
def test_the_models_write_json_as_orjson_does(payload: dict[str, Any]) -> None:
    """Stored JSON is orjson's text, spliced into reads as it is: what a create or append
    answers (the models' text) must be the same bytes, or a later GET would differ."""
    body = Event.of(_event(payload)).model_dump_json(by_alias=True)
    assert body == orjson.dumps(orjson.loads(body)).decode()


def test_instants_in_other_zones_and_early_years_are_rfc3339() -> None:
    plus_two = timezone(timedelta(hours=2))
    shifted = datetime(2024, 6, 10, 11, 15, 30, 5000, tzinfo=UTC).astimezone(plus_two)
    assert to_rfc3339(shifted) == "2024-06-10T11:15:30.005Z"
    # RFC 3339 years have four digits.
    assert to_rfc3339(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000Z"


async def test_stored_log_reads_write_the_same_body(db: Database, principal: Principal) -> None:
    """The GET path (the body the database writes) and the record path agree."""
    session = await session_ops.create_session(
        db, principal, {"prd": {"title": "Ünïcödé ✓", "n": [1, 2.5, -0.0, 1e18, None]}}
    )
    payloads: list[dict[str, Any] | None] = [
        None,
        {"text": 'quote " backslash \\ tab \t ctrl \x01 emoji 🎉', "big": 2**63 - 1},
        {"nested": {"deep": [[], {}, [{"a": False}]]}, "float": 0.1},
    ]
    for i, payload in enumerate(payloads):
        await append_event(
            db, principal, session.id, type="info", stage="s", message=f"m{i}", payload=payload
        )
    record, events = await session_and_log(db, principal, session.id)
    found = await read_sql.read_row(
        db, principal.organization_id, reads.SESSION_DOCUMENT, [session.id]
    )
    assert found is not None and len(events) == 3
    assert found[0] == Session.of(record, events).model_dump_json(by_alias=True)
