"""Output types built without their dataclass `__init__` hold exactly what it would set."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from db.records import SessionRecord
from db.windows import EventWindow
from graph.schema.enums import EventType
from graph.schema.types import Event, EventConnection, PageInfo, Session

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _record() -> SessionRecord:
    when = WHEN
    return SessionRecord(
        id="sess_1",
        organization_id="org",
        user_id="user",
        status="generating",
        assembly_state={"step": 1},
        catalog_version="v1",
        plan={"name": "Free"},
        prd={"name": "p"},
        product_object={"type": "t"},
        product_object_hash="h",
        schema_version="1.0.0",
        created_at=when,
        updated_at=when,
        expires_at=when,
        last_sequence=7,
        revision=3,
    )


def test_a_session_from_its_record_is_the_dataclass_built_by_keywords() -> None:
    record = _record()
    built = Session.from_record(record)
    init_fields = [f.name for f in dataclasses.fields(Session) if f.init]
    by_keywords = Session(**{name: getattr(built, name) for name in init_fields})
    assert type(built) is Session
    assert built.__dict__ == by_keywords.__dict__
    assert list(built.__dict__) == list(by_keywords.__dict__)
    assert built.status.value == "generating" and built.event_count == 7 and built.record is record


def _by_keywords(cls: type, built: object) -> object:
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    return cls(**{name: getattr(built, name) for name in names})


def test_an_event_connection_is_the_dataclasses_built_by_keywords() -> None:
    event = Event(
        id="evt_1", sequence=4, session_id="sess_1", organization_id="org", user_id="u",
        type=EventType.INFO, stage=None, message="m", payload=None, created_at=WHEN,
    )  # fmt: skip
    for nodes in ([event], []):
        built = EventConnection.build(nodes, EventWindow(4, 4, True, False), 9)
        assert type(built) is EventConnection and type(built.page_info) is PageInfo
        again = _by_keywords(EventConnection, built)
        assert list(built.__dict__.items()) == list(again.__dict__.items())
        info = _by_keywords(PageInfo, built.page_info)
        assert list(built.page_info.__dict__.items()) == list(info.__dict__.items())
    assert built.page_info.start_cursor is None
    assert EventConnection.build([event], EventWindow(4, 4, True, False), 9).page_info.end_cursor
