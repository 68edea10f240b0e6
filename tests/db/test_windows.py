"""Relay windows over gapless sequences, against a brute-force reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.errors import InvalidInput
from db.windows import event_window


def reference(
    n: int, first: int | None, after: int | None, last: int | None, before: int | None
) -> list[int]:
    items = [
        s
        for s in range(1, n + 1)
        if (after is None or s > after) and (before is None or s < before)
    ]
    if first is None and last is None:
        first = 100
    if first is not None:
        items = items[:first]
    if last is not None:
        items = items[-last:]
    return items


sizes = st.integers(min_value=1, max_value=100) | st.none()
cursors = st.integers(min_value=0, max_value=300) | st.none()


@given(st.integers(min_value=0, max_value=250), sizes, cursors, sizes, cursors)
def test_window_matches_reference(
    n: int, first: int | None, after: int | None, last: int | None, before: int | None
) -> None:
    window = event_window(n, first=first, after=after, last=last, before=before)
    got = list(range(window.low, window.high + 1))
    assert got == reference(n, first, after, last, before)


def test_page_flags() -> None:
    assert event_window(250, first=100).has_next_page
    assert not event_window(250, first=100).has_previous_page
    tail = event_window(250, first=100, after=200)
    assert (tail.low, tail.high, tail.has_next_page, tail.has_previous_page) == (
        201,
        250,
        False,
        True,
    )
    head = event_window(250, last=10)
    assert (head.low, head.high, head.has_previous_page, head.has_next_page) == (
        241,
        250,
        True,
        False,
    )
    assert event_window(250, last=10, before=100).has_next_page


@pytest.mark.parametrize("size", [0, -1, 101])
def test_page_size_bounds(size: int) -> None:
    with pytest.raises(InvalidInput):
        event_window(10, first=size)
    with pytest.raises(InvalidInput):
        event_window(10, last=size)
