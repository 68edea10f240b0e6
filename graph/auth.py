"""API keys on the wire: `Authorization: Bearer <key>`, or the bare key the reference page sends.

`KeyRequired` guards every API door (GraphQL, REST, streams) the same way, so a rule about
callers — revocation, per-organisation limits — is enforced in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from db.engine import Database
from db.errors import Unauthenticated
from db.keys import authenticate
from db.ratelimit import Decision
from db.records import Principal
from graph.metrics import RATE_LIMITED
from graph.ratelimit import (
    admit,
    graphql_rate_limited_response,
    raw_rate_limit_headers,
    with_headers,
)

Refusal = Callable[[Unauthenticated], Response]
LimitedRefusal = Callable[[Decision], Response]
PublicPage = Callable[[Request], Awaitable[Response | None]]


def key_from_header(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return value or None


async def principal_from_header(db: Database, value: str | None) -> Principal:
    """Raises `Unauthenticated` for a missing, unknown or revoked key."""
    return await authenticate(db, key_from_header(value))


def authorization_of(scope: Scope) -> str | None:
    """The `Authorization` field, read from the ASGI scope without building `Headers`."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def principal_of(scope: Scope) -> Principal:
    """The caller `KeyRequired` resolved for this request."""
    principal: Principal = scope["state"]["principal"]
    return principal


class KeyRequired:
    """Resolve the caller's key into `scope["state"]["principal"]`, or answer `refuse(error)`.

    `public` may answer a request without a key (e.g. the GraphiQL page) by returning a
    response; returning None sends the request through the key check.

    A known caller then spends one request of its organisation's `maxRequestsPerMinute`;
    over the limit it gets `limited(decision)` (a 429; GraphQL-shaped unless the door
    passes its own, e.g. `graph.ratelimit.rest_rate_limited_response`). Every answer of
    the door carries the RateLimit header fields.
    """

    def __init__(
        self,
        app: ASGIApp,
        db: Database,
        *,
        refuse: Refusal,
        public: PublicPage | None = None,
        limited: LimitedRefusal = graphql_rate_limited_response,
    ) -> None:
        self.app = app
        self.db = db
        self.refuse = refuse
        self.public = public
        self.limited = limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.public is not None:
            page = await self.public(Request(scope, receive))
            if page is not None:
                await page(scope, receive, send)
                return
        try:
            principal = await principal_from_header(self.db, authorization_of(scope))
        except Unauthenticated as error:
            await self.refuse(error)(scope, receive, send)
            return
        decision = await admit(self.db, principal)
        if not decision.allowed:
            RATE_LIMITED.inc()
            await self.limited(decision)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, with_headers(send, raw_rate_limit_headers(decision)))
