"""The hand-written REST bodies are byte for byte what the pydantic models write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from db import sessions as session_ops
from db.clock import to_rfc3339
from db.events import append_event
from db.records import EventRecord, Principal, SessionRecord
from db.store import read_sql
from db.store.engine import Database
from graph.rest import reads
from graph.rest.models import Event, Session, event_body, session_body
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
_objects = st.none() | st.dictionaries(_text, _json, max_size=5)
_times = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond - t.microsecond % 1000))
_optional_text = st.none() | _text


@st.composite
def events(draw: st.DrawFn, sequence: int = 1) -> EventRecord:
    return EventRecord(
        id="evt_" + draw(st.text("0123456789abcdef", min_size=16, max_size=16)),
        session_id="sess_0123456789abcdef",
        sequence=sequence,
        organization_id=draw(st.none() | _text),
        user_id=draw(_text),
        type=draw(st.sampled_from(["debug", "info", "warning", "error"])),
        stage=draw(_optional_text),
        message=draw(_optional_text),
        payload=draw(_objects),
        created_at=draw(_times),
    )


@st.composite
def sessions(draw: st.DrawFn) -> tuple[SessionRecord, list[EventRecord]]:
    log = [draw(events(i + 1)) for i in range(draw(st.integers(0, 4)))]
    record = SessionRecord(
        id="sess_0123456789abcdef",
        organization_id=draw(st.none() | _text),
        user_id=draw(_text),
        status=draw(st.sampled_from(["pending", "generating", "completed", "expired"])),
        assembly_state=draw(_objects),
        catalog_version=draw(_optional_text),
        plan=draw(_objects),
        prd=draw(_objects),
        product_object=draw(_objects),
        product_object_hash=draw(_optional_text),
        schema_version=draw(_optional_text),
        created_at=draw(_times),
        updated_at=draw(_times),
        expires_at=draw(_times),
        last_sequence=len(log),
        revision=1,
    )
    return record, log


@settings(max_examples=400, deadline=None)
@given(sessions())
def test_session_body_is_the_models_bytes(drawn: tuple[SessionRecord, list[EventRecord]]) -> None:
    record, log = drawn
    expected = Session.of(record, log).model_dump_json(by_alias=True).encode()
    assert session_body(record, log) == expected


@settings(max_examples=400, deadline=None)
@given(events())
def test_event_body_is_the_models_bytes(record: EventRecord) -> None:
    assert event_body(record) == Event.of(record).model_dump_json(by_alias=True).encode()


def test_integers_beyond_64_bits_take_the_models_path() -> None:
    payload: dict[str, Any] = {"big": 2**70, "list": [-(2**65)]}
    record = EventRecord(
        id="evt_0123456789abcdef",
        session_id="sess_0123456789abcdef",
        sequence=1,
        organization_id="org",
        user_id="user",
        type="info",
        stage=None,
        message=None,
        payload=payload,
        created_at=datetime(2024, 6, 10, 9, 15, 30, 120000, tzinfo=UTC),
    )
    assert event_body(record) == Event.of(record).model_dump_json(by_alias=True).encode()
    assert b'"big":1180591620717411303424' in event_body(record)


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
    expected = Session.of(record, events).model_dump_json(by_alias=True).encode()
    assert found[0].encode() == expected == session_body(record, events)
