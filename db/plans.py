"""Organisation plans: the limits every request and new session is held to. A change applies
to the next request; sessions keep the plan they were created with."""

from __future__ import annotations

from db.errors import InvalidInput
from db.keys import DEFAULT_PLAN, check_name
from db.records import Plan
from db.store import keys as store
from db.store.engine import Database
from db.store.keys import list_plans as list_plans  # the CLI's listing needs no rule

MAX_LIMIT = 1_000_000_000


def _check_limit(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"{field} must be an integer from 1 to {MAX_LIMIT}", field=field)
    return value


async def set_plan(
    db: Database,
    organization_id: str,
    *,
    name: str | None = None,
    max_sessions: int | None = None,
    max_requests_per_minute: int | None = None,
) -> Plan:
    """Change the given parts of a plan; an unknown organisation is created on the default plan."""
    check_name(organization_id, "org")
    changes: dict[str, object] = {}
    if name is not None:
        changes["plan_name"] = check_name(name, "name")
    if max_sessions is not None:
        changes["max_sessions"] = _check_limit(max_sessions, "maxSessions")
    if max_requests_per_minute is not None:
        changes["max_requests_per_minute"] = _check_limit(
            max_requests_per_minute, "maxRequestsPerMinute"
        )
    async with db.write() as conn:
        await store.put_organization(conn, organization_id, DEFAULT_PLAN, changes)
    ((_, plan),) = await store.list_plans(db, organization_id)
    return plan
