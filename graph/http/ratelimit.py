"""`maxRequestsPerMinute` on the wire: 429, `Retry-After`, and the IETF draft's RateLimit
fields (`RateLimit-Policy`: quota `q`, window `w`; `RateLimit`: remaining `r`, reset `t`) on
every response of a guarded door, so clients can pace themselves before they are refused."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.responses import Response

from db.errors import RateLimited
from db.ratelimit import WINDOW_SECONDS, Decision, limiter_for
from db.records import Principal
from db.store.engine import Database
from graph.schema.errors import ServiceUnavailable, door_error_response, mapping_for

POLICY = "org-per-minute"


async def admit(db: Database, principal: Principal) -> Decision:
    """Spend one request of the caller's organisation: once per HTTP request, and once per
    operation (`subscribe`/`start` message) on a WebSocket."""
    return await limiter_for(db).admit(
        principal.organization_id, principal.plan.max_requests_per_minute
    )


def refusal(decision: Decision) -> RateLimited:
    return RateLimited(
        f"the organisation's plan allows {decision.limit} requests per minute; "
        f"retry after {decision.retry_after_seconds} s",
        retry_after_seconds=decision.retry_after_seconds,
    )


def graphql_error_body(error: RateLimited | ServiceUnavailable) -> dict[str, Any]:
    """A GraphQL error a retry may cure, as WebSocket `error`/`connection_error` carry it."""
    return {
        "message": error.message,
        "extensions": {
            "code": mapping_for(error).graphql_code,
            "retryAfter": error.retry_after_seconds,
        },
    }


@lru_cache(maxsize=256)
def _policy_field(limit: int) -> tuple[bytes, bytes]:
    """The same for every request of a plan: encoded once."""
    return b"ratelimit-policy", f'"{POLICY}";q={limit};w={WINDOW_SECONDS}'.encode("latin-1")


def rate_limit_fields(decision: Decision) -> list[tuple[bytes, bytes]]:
    state = f'"{POLICY}";r={decision.remaining};t={decision.reset_seconds}'
    return [_policy_field(decision.limit), (b"ratelimit", state.encode("latin-1"))]


def rate_limited_response(decision: Decision, *, rest: bool) -> Response:
    """The 429 in the door's shape, with the RateLimit fields and `Retry-After`."""
    fields = {name.decode(): value.decode() for name, value in rate_limit_fields(decision)}
    return door_error_response(refusal(decision), rest=rest, headers=fields)
