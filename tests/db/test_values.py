"""Clock, cursor, hash and id helpers: the small pure pieces the operations rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from db import clock, ids
from db.cursors import decode_event_cursor, decode_session_cursor, encode_session_cursor
from db.errors import InvalidInput
from db.sessions import product_object_hash


def test_rfc3339_round_trip_in_utc_with_z() -> None:
    value = datetime(2024, 6, 10, 9, 15, 30, 123456, tzinfo=UTC)
    text = clock.to_rfc3339(value)
    assert text == "2024-06-10T09:15:30.123Z"
    assert clock.parse_rfc3339(text) == clock.truncate(value)


def test_offsets_are_converted_and_naive_times_refused() -> None:
    parsed = clock.parse_rfc3339("2024-06-10T11:15:30+02:00")
    assert parsed == datetime(2024, 6, 10, 9, 15, 30, tzinfo=UTC)
    assert (
        clock.to_rfc3339(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5))))
        == "2024-01-01T05:00:00.000Z"
    )
    for bad in ("2024-06-10T09:15:30", "2024-06-10", "yesterday", ""):
        with pytest.raises(ValueError):
            clock.parse_rfc3339(bad)


def test_session_cursor_round_trip_and_forgeries() -> None:
    stamp = datetime(2024, 6, 10, 9, 15, 30, 120000, tzinfo=UTC)
    cursor = encode_session_cursor(stamp, "sess_0123456789abcdef")
    assert decode_session_cursor(cursor) == (stamp, "sess_0123456789abcdef")
    for forged in ("", "abc", "!!!", "c2Vzc18xMjM", encode_session_cursor(stamp, "sess_1")):
        with pytest.raises(InvalidInput):
            decode_session_cursor(forged)


def test_event_cursor_is_a_sequence() -> None:
    assert decode_event_cursor("42", field="after") == 42
    for forged in ("-1", "x", "1e3", "٣", "9" * 13):
        with pytest.raises(InvalidInput):
            decode_event_cursor(forged, field="after")


def test_product_object_hash_ignores_key_order() -> None:
    first = product_object_hash({"type": "text", "config": {"a": 1, "b": [1, 2]}})
    second = product_object_hash({"config": {"b": [1, 2], "a": 1}, "type": "text"})
    assert first == second
    assert first is not None and len(first) == 32 and first == first.lower()
    assert int(first, 16) >= 0
    assert product_object_hash({"type": "other"}) != first
    assert product_object_hash(None) is None


def test_ids_are_random_prefixed_hex() -> None:
    made = {ids.new_session_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(ids.is_well_formed(i, "sess_") for i in made)
    assert ids.is_well_formed(ids.new_event_id(), "evt_")
    assert not ids.is_well_formed("sess_0123456789ABCDEF", "sess_")
    assert not ids.is_well_formed("evt_0123456789abcdef", "sess_")
