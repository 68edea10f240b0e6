"""REST: a timestamp that falls off the calendar once converted to UTC is a 422 naming the
field, on create, update and in a cursor; year 9999 itself reads back on every path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.db.test_timestamp_bounds import (
    BEFORE_THE_START,
    FAR_FUTURE,
    OUT_OF_RANGE,
    PAST_THE_END,
    _forged_cursor,
)
from tests.rest.conftest import BASE, Rest

OUT_OF_RANGE_MESSAGE = (
    "expiresAt: Value error, timestamp is out of range: in UTC it must lie between"
    " 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z"
)


def _refusal(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    return error


async def _count(rest: Rest) -> int:
    response = await rest.get(BASE, params={"limit": 100})
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


@pytest.mark.parametrize("text", OUT_OF_RANGE)
async def test_create_refuses_times_past_the_calendar(rest: Rest, text: str) -> None:
    for headers in ({}, {"Idempotency-Key": f"k-{text}"}):
        response = await rest.post(BASE, json={"expiresAt": text}, headers=headers)
        assert _refusal(response, "expiresAt")["message"] == OUT_OF_RANGE_MESSAGE
    assert await _count(rest) == 0


async def test_update_refuses_times_past_the_calendar(rest: Rest) -> None:
    session = await rest.create({"prd": {"kept": True}})
    for text in OUT_OF_RANGE:
        response = await rest.patch(f"{BASE}/{session['id']}", json={"expiresAt": text})
        assert _refusal(response, "expiresAt")["message"] == OUT_OF_RANGE_MESSAGE
    unchanged = (await rest.get(f"{BASE}/{session['id']}")).json()
    assert unchanged == session


@pytest.mark.parametrize("text", PAST_THE_END[::3] + BEFORE_THE_START[::2])
async def test_a_cursor_naming_a_time_past_the_calendar_is_refused(rest: Rest, text: str) -> None:
    await rest.create()
    response = await rest.get(BASE, params={"cursor": _forged_cursor(text)})
    assert _refusal(response, "cursor")["message"] == "cursor is not a valid cursor"


async def test_the_first_day_of_the_calendar_is_in_the_past(rest: Rest) -> None:
    """Inside the calendar, the old rule answers: year 1 is not in the future."""
    for text in ("0001-01-01T00:00:00Z", "0001-01-01T23:59:00+23:59"):
        response = await rest.post(BASE, json={"expiresAt": text})
        assert _refusal(response, "expiresAt")["message"] == "expiresAt must be in the future"


async def test_the_last_millisecond_of_the_calendar_reads_back(rest: Rest) -> None:
    created = await rest.create({"expiresAt": "9999-12-31T00:00:00-23:59"})
    assert created["expiresAt"] == "9999-12-31T23:59:00.000Z"
    updated = await rest.patch(f"{BASE}/{created['id']}", json={"expiresAt": FAR_FUTURE})
    assert updated.status_code == 200, updated.text
    assert updated.json()["expiresAt"] == FAR_FUTURE
    got = await rest.get(f"{BASE}/{created['id']}")
    assert got.json() == updated.json()
    first = (await rest.get(BASE, params={"limit": 1})).json()
    assert [s["expiresAt"] for s in first["data"]] == [FAR_FUTURE]
