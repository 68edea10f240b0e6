"""Timestamps whose offset carries them past either end of the calendar (years 1-9999 in
UTC) are refused as out of range, never an overflow; those that stay inside are kept."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from db import clock
from db import sessions as session_ops
from db.cursors import decode_session_cursor
from db.errors import InvalidInput
from db.records import Principal
from db.store.engine import Database

# Past year 9999 in UTC: the last moments of 9999 with any westward offset.
PAST_THE_END = [
    f"9999-12-31T{time}{offset}"
    for time, offset in [
        ("23:59:59", "-00:01"),
        ("23:59:59", "-00:30"),
        ("23:59:59", "-05:00"),
        ("23:59:59", "-12:00"),
        ("23:59:59", "-23:59"),
        ("23:59:59.999", "-00:01"),
        ("23:00:00", "-01:00"),
        ("12:00:00", "-12:00"),
        ("00:01:00", "-23:59"),
    ]
]
# Before year 1 in UTC: the first moments of year 1 with any eastward offset.
BEFORE_THE_START = [
    f"0001-01-01T{time}{offset}"
    for time, offset in [
        ("00:00:00", "+00:01"),
        ("00:00:00", "+05:30"),
        ("00:00:00", "+14:00"),
        ("00:00:00", "+23:59"),
        ("00:59:59.999", "+01:00"),
        ("23:58:00", "+23:59"),
    ]
]
OUT_OF_RANGE = PAST_THE_END + BEFORE_THE_START
# Just inside: the offset moves the time, but not out of the calendar.
INSIDE = {
    "9999-12-31T23:59:59.999Z": datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    "9999-12-31T23:59:59.999z": datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    "9999-12-31T00:00:00-23:59": datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    "9999-12-31T23:59:59+23:59": datetime(9999, 12, 31, 0, 0, 59, tzinfo=UTC),
    "0001-01-01T23:59:00+23:59": datetime(1, 1, 1, 0, 0, tzinfo=UTC),
    "0001-01-01T00:00:00-23:59": datetime(1, 1, 1, 23, 59, tzinfo=UTC),
    "0001-01-01T00:00:00Z": datetime(1, 1, 1, tzinfo=UTC),
}
FAR_FUTURE = "9999-12-31T23:59:59.999Z"


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_offsets_past_the_calendar_are_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="out of range") as caught:
        clock.parse_rfc3339(text)
    assert type(caught.value) is ValueError  # not an OverflowError, which doors do not expect


@pytest.mark.parametrize(("text", "expected"), INSIDE.items())
def test_offsets_inside_the_calendar_are_converted(text: str, expected: datetime) -> None:
    parsed = clock.parse_rfc3339(text)
    assert parsed == expected
    assert clock.parse_rfc3339(clock.to_rfc3339(parsed)) == parsed


def _forged_cursor(stamp: str) -> str:
    raw = f"{stamp}|sess_0123456789abcdef".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_cursors_naming_times_past_the_calendar_are_not_cursors(stamp: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_session_cursor(_forged_cursor(stamp), field="after")
    assert (caught.value.field, caught.value.message) == ("after", "after is not a valid cursor")


@pytest.mark.parametrize("text", OUT_OF_RANGE[:3] + BEFORE_THE_START[-2:])
async def test_operations_refuse_a_cursor_past_the_calendar(
    db: Database, principal: Principal, text: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await session_ops.list_sessions(db, principal, after=_forged_cursor(text))
    assert caught.value.field == "after"


async def test_the_last_millisecond_of_the_calendar_is_stored_and_read(
    db: Database, principal: Principal
) -> None:
    """Both engines keep year 9999, and every read path gives it back unchanged."""
    last = clock.parse_rfc3339(FAR_FUTURE)
    created = await session_ops.create_session(db, principal, {"expires_at": last})
    updated = await session_ops.create_session(db, principal, {})
    updated = await session_ops.update_session(db, principal, updated.id, {"expires_at": last})
    for record in (created, updated):
        assert record.expires_at == last
        assert (await session_ops.get_session(db, principal, record.id)).expires_at == last
        found = await session_ops.sessions_by_id(db, principal, [record.id])
        assert found[record.id].expires_at == last
    for statuses in (None, ["pending"]):
        page = await session_ops.list_sessions(db, principal, statuses=statuses)
        assert [clock.to_rfc3339(r.expires_at) for r in page.items] == [FAR_FUTURE] * 2
        # Paging by cursor walks the same two sessions.
        first = await session_ops.list_sessions(db, principal, limit=1, statuses=statuses)
        second = await session_ops.list_sessions(
            db, principal, limit=1, after=session_ops.cursor_of(first.items[-1]), statuses=statuses
        )
        assert [*first.items, *second.items] == page.items and not second.has_more
