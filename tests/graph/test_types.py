"""Output types built without their dataclass `__init__` hold exactly what it would set."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from db.records import SessionRecord
from graph.types import Session


def test_a_session_from_its_record_is_the_dataclass_built_by_keywords() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = SessionRecord(
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
    built = Session.from_record(record)
    init_fields = [f.name for f in dataclasses.fields(Session) if f.init]
    by_keywords = Session(**{name: getattr(built, name) for name in init_fields})
    assert type(built) is Session
    assert built.__dict__ == by_keywords.__dict__
    assert list(built.__dict__) == list(by_keywords.__dict__)
    assert built.status.value == "generating" and built.event_count == 7 and built.record is record
