"""The session status machine of API.md: `effective` for records, `seen_sql`/`filter_sql` in SQL."""

from collections.abc import Callable, Iterable
from datetime import datetime

from db.errors import Conflict, InvalidInput

PENDING, GENERATING, ASSEMBLING = "pending", "generating", "assembling"
COMPLETED, FAILED, CANCELLED, EXPIRED = "completed", "failed", "cancelled", "expired"

ALL = (PENDING, GENERATING, ASSEMBLING, COMPLETED, FAILED, CANCELLED, EXPIRED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, EXPIRED})
LIVE = tuple(s for s in ALL if s not in TERMINAL)
# The forward path; a session may skip ahead along it but never step back.
_PATH = (PENDING, GENERATING, ASSEMBLING, COMPLETED)
LIVE_SQL = ", ".join(f"'{s}'" for s in LIVE)


def effective(status: str, expires_at: datetime, now: datetime) -> str:
    """A live session past its expiry reads as expired, swept or not."""
    if status not in TERMINAL and expires_at <= now:
        return EXPIRED
    return status


def seen_sql(alias: str, now: str) -> str:
    """`effective` over the row `alias`, `now` being the placeholder of the current time."""
    return (
        f"CASE WHEN {alias}.status IN ({LIVE_SQL}) AND {alias}.expires_at <= {now}"
        f" THEN '{EXPIRED}' ELSE {alias}.status END"
    )


def filter_sql(wanted: Iterable[str], alias: str, now: Callable[[], str]) -> str:
    """Rows whose effective status is in `wanted`; `now()` only where used (unused is an error)."""
    clauses = []
    for status in sorted(set(wanted)):
        check_known(status)
        if status == EXPIRED:
            clauses.append(
                f"({alias}.status = '{EXPIRED}' OR ({alias}.status IN ({LIVE_SQL})"
                f" AND {alias}.expires_at <= {now()}))"
            )
        elif status in TERMINAL:
            clauses.append(f"{alias}.status = '{status}'")
        else:
            clauses.append(f"({alias}.status = '{status}' AND {alias}.expires_at > {now()})")
    return "(" + " OR ".join(clauses) + ")" if clauses else "1 = 0"


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
