"""The status machine of API.md, checked exhaustively."""

from __future__ import annotations

import itertools

import pytest

from db import status
from db.errors import Conflict, InvalidInput
from tests.support.status import legal_targets

LEGAL = {
    ("pending", "generating"),
    ("pending", "assembling"),
    ("pending", "completed"),
    ("pending", "failed"),
    ("pending", "cancelled"),
    ("generating", "assembling"),
    ("generating", "completed"),
    ("generating", "failed"),
    ("generating", "cancelled"),
    ("assembling", "completed"),
    ("assembling", "failed"),
    ("assembling", "cancelled"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.permutations(status.ALL, 2)))
def test_every_pair_of_statuses(current: str, target: str) -> None:
    if (current, target) in LEGAL:
        status.check_transition(current, target)
    else:
        with pytest.raises(Conflict):
            status.check_transition(current, target)


def test_staying_put_is_not_a_transition() -> None:
    for value in status.LIVE:
        status.check_transition(value, value)


def test_unknown_status_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        status.check_transition("pending", "paused")


def test_terminal_statuses_have_no_targets() -> None:
    assert {s for s in status.ALL if not legal_targets(s)} == set(status.TERMINAL)
