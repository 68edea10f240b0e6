"""Every legal move of the status machine, found by asking `check_transition`."""

from __future__ import annotations

from db import status
from db.errors import Conflict


def legal_targets(current: str) -> list[str]:
    """Every status `current` may move to."""
    targets = []
    for target in status.ALL:
        if target == current:
            continue
        try:
            status.check_transition(current, target)
        except Conflict:
            continue
        targets.append(target)
    return targets
