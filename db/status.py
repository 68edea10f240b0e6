"""The session status machine of API.md, in one place."""

from __future__ import annotations

from datetime import datetime

from db.errors import Conflict, InvalidInput

PENDING, GENERATING, ASSEMBLING = "pending", "generating", "assembling"
COMPLETED, FAILED, CANCELLED, EXPIRED = "completed", "failed", "cancelled", "expired"

ALL = (PENDING, GENERATING, ASSEMBLING, COMPLETED, FAILED, CANCELLED, EXPIRED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, EXPIRED})
LIVE = tuple(s for s in ALL if s not in TERMINAL)
# The forward path; a session may skip ahead along it but never step back.
_PATH = (PENDING, GENERATING, ASSEMBLING, COMPLETED)
# Statuses a client may ask for when creating a session: anything but the server's own `expired`.
CREATABLE = frozenset(ALL) - {EXPIRED}


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def effective(status: str, expires_at: datetime, now: datetime) -> str:
    """What a reader must see: a live session past its expiry is expired, swept or not."""
    if status not in TERMINAL and expires_at <= now:
        return EXPIRED
    return status


def check_known(status: str) -> None:
    if status not in ALL:
        raise InvalidInput(f"unknown status {status!r}", field="status")


def check_transition(current: str, target: str) -> None:
    """Raise Conflict unless `current → target` is legal; staying put is not a transition."""
    check_known(target)
    if target == current:
        return
    if current in TERMINAL:
        raise Conflict(f"session is {current}; a {current} session cannot change")
    if target == EXPIRED:
        raise Conflict("only the server sets a session to expired, when expiresAt passes")
    if target in (FAILED, CANCELLED):
        return
    if _PATH.index(target) < _PATH.index(current):
        raise Conflict(f"status cannot move back from {current} to {target}")


def legal_targets(current: str) -> list[str]:
    """Every status `current` may move to (used by tests and error messages)."""
    targets = []
    for target in ALL:
        if target == current:
            continue
        try:
            check_transition(current, target)
        except Conflict:
            continue
        targets.append(target)
    return targets
