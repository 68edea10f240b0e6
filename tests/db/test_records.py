"""Records hold every declared field (db/fields.py) by name; their typed attributes are
declared fields too."""

from __future__ import annotations

from datetime import UTC, datetime

from db.fields import EVENT_FIELDS, SESSION_FIELDS
from db.records import EventRecord, SessionRecord


def test_typed_attributes_are_declared_columns() -> None:
    for record, fields in ((SessionRecord, SESSION_FIELDS), (EventRecord, EVENT_FIELDS)):
        assert set(record.__annotations__) - {"FIELDS"} <= set(record.COLUMNS)
        assert [f.column for f in fields] == list(record.COLUMNS[: len(fields)])


def test_a_row_maps_by_name() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5)
    row = {c: None for c in SessionRecord.COLUMNS} | {
        "id": "sess_1",
        "status": "generating",
        "created_at": when,
        "updated_at": when,
        "expires_at": when,
        "last_sequence": 4,
        "revision": 2,
    }
    record = SessionRecord.from_row(row, datetime(2026, 1, 1, tzinfo=UTC))
    assert record.created_at == when.replace(tzinfo=UTC) and record.event_count == 4
    assert record.etag == '"sess_1.2.4"' and record == SessionRecord.from_row(
        row, record.created_at.replace(year=2025)
    )
    expired = SessionRecord.from_row(row, datetime(2027, 1, 1, tzinfo=UTC))
    assert expired.status == "expired" and expired != record
