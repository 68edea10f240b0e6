"""`maxRequestsPerMinute` on the wire: 429, `Retry-After`, and the RateLimit header fields.

The header fields follow the IETF draft "RateLimit header fields for HTTP"
(draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` states the quota (`q`) and its
window in seconds (`w`); `RateLimit` states what is left (`r`) and the seconds until the
window resets (`t`). Every response of a guarded door carries both, so clients can pace
themselves before they are refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Send

from db.errors import RateLimited
from db.ratelimit import WINDOW_SECONDS, Decision, limiter_for
from db.records import Principal
from db.store.engine import Database
from graph.http.jsonio import JSONResponse
from graph.schema.errors import ServiceUnavailable, mapping_for

POLICY = "org-per-minute"


async def admit(db: Database, principal: Principal) -> Decision:
    """Spend one request of the caller's organisation. Every door calls this once per
    request or, for WebSockets, once per operation (`subscribe`/`start` message)."""
    return await limiter_for(db).admit(
        principal.organization_id, principal.plan.max_requests_per_minute
    )


async def spend_operation(db: Database, principal: Principal) -> Decision:
    """For a WebSocket operation: admit it, or raise `RateLimited`, which the GraphQL error
    mapping turns into `extensions.code: RATE_LIMITED` with `extensions.retryAfter`."""
    decision = await admit(db, principal)
    if not decision.allowed:
        raise refusal(decision)
    return decision


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "RateLimit-Policy": f'"{POLICY}";q={decision.limit};w={WINDOW_SECONDS}',
        "RateLimit": f'"{POLICY}";r={decision.remaining};t={decision.reset_seconds}',
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after_seconds)
    return headers


def refusal(decision: Decision) -> RateLimited:
    return RateLimited(
        f"the organisation's plan allows {decision.limit} requests per minute; "
        f"retry after {decision.retry_after_seconds} s",
        retry_after_seconds=decision.retry_after_seconds,
    )


def graphql_error_body(error: RateLimited | ServiceUnavailable) -> dict[str, Any]:
    """One GraphQL error a retry may cure, as HTTP bodies and WebSocket `error` (and
    legacy `connection_error`) messages carry it."""
    return {
        "message": error.message,
        "extensions": {
            "code": mapping_for(error).graphql_code,
            "retryAfter": error.retry_after_seconds,
        },
    }


def graphql_rate_limited_response(decision: Decision) -> Response:
    """The GraphQL door's 429: a GraphQL-shaped body so clients show it like any error."""
    error = refusal(decision)
    return JSONResponse(
        {"errors": [graphql_error_body(error)]},
        status_code=mapping_for(error).http_status,
        headers=rate_limit_headers(decision),
    )


def rest_rate_limited_response(decision: Decision) -> Response:
    """The REST door's 429, in API.md's error shape."""
    error = refusal(decision)
    mapping = mapping_for(error)
    return JSONResponse(
        {"error": {"code": mapping.rest_code, "message": error.message}},
        status_code=mapping.http_status,
        headers=rate_limit_headers(decision),
    )


@lru_cache(maxsize=256)
def _policy_field(limit: int) -> tuple[bytes, bytes]:
    return b"ratelimit-policy", f'"{POLICY}";q={limit};w={WINDOW_SECONDS}'.encode("latin-1")


def raw_rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """`rate_limit_headers` as ASGI header pairs, for an allowed request (no Retry-After);
    the policy field, the same for every request of a plan, is encoded once."""
    state = f'"{POLICY}";r={decision.remaining};t={decision.reset_seconds}'
    return [_policy_field(decision.limit), (b"ratelimit", state.encode("latin-1"))]


def with_headers(send: Send, raw: list[tuple[bytes, bytes]]) -> Send:
    """Add the `raw` header pairs to the response that `send` starts."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *raw]
        await send(message)

    return sending
