"""API keys on the wire: `Authorization: Bearer <key>`, or the bare key the reference page sends.
`KeyRequired` guards every door alike, so rules about callers (revocation, rate limits) live
in one place, the last where a failure can still be answered in the door's shape.

`maxRequestsPerMinute` on the wire: 429, `Retry-After`, and the IETF draft's RateLimit
fields (`RateLimit-Policy`: quota `q`, window `w`; `RateLimit`: remaining `r`, reset `t`) on
every response of a guarded door, so clients can pace themselves before they are refused."""

from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.errors import DomainError, RateLimited, Unauthenticated
from db.keys import authenticate, key_hash_of
from db.ratelimit import WINDOW_SECONDS, Decision, limiter_for
from db.records import Principal
from db.store.engine import Database
from graph.ops.metrics import RATE_LIMITED
from graph.schema.errors import (
    door_error_response,
    log,
    log_unavailable,
    new_error_id,
    unavailable,
)

# Checks the key inside the statement that answers: (caller, answer), or None for the usual path.
Folded = Callable[[Request, str], Awaitable[tuple[Principal, ASGIApp] | None]]
PublicPage = Callable[[Request], Awaitable[Response | None]]

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
        f"retry after {decision.reset_seconds} s",
        retry_after_seconds=decision.reset_seconds,
    )


@lru_cache(maxsize=256)
def _policy_field(limit: int) -> tuple[bytes, bytes]:  # the same for every request of a plan
    return b"ratelimit-policy", f'"{POLICY}";q={limit};w={WINDOW_SECONDS}'.encode("latin-1")


def is_rest(scope: Scope) -> bool:
    """REST paths (SSE included) answer in the REST error shape, everything else GraphQL's."""
    return str(scope["path"]).startswith("/v1/")


def failure_response(error: Exception, scope: Scope, where: str) -> Response:
    """503 for an outage, else a 500 whose id is in the log next to the traceback."""
    down = unavailable(error)
    if down is not None:
        log_unavailable(error, where)
        return door_error_response(down, rest=is_rest(scope))
    error_id = new_error_id()
    log.error("unexpected error %s in %s", error_id, where, exc_info=error)
    internal = DomainError(f"Internal server error (error id {error_id})")
    return door_error_response(internal, rest=is_rest(scope), error_id=error_id)


def key_from_header(value: str | None) -> str | None:
    scheme, _, rest = (value or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return (value or "").strip() or None


def authorization_of(scope: Scope) -> str | None:
    """Read from the ASGI scope without building `Headers`."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def principal_of(scope: Scope) -> Principal:
    return cast(Principal, scope["state"]["principal"])  # set by `KeyRequired`


class KeyRequired:
    """Resolve the caller's key into `scope["state"]["principal"]`, or refuse in the door's
    shape; `public` may answer without a key (the GraphiQL page)."""

    def __init__(
        self,
        app: ASGIApp,
        db: Database,
        *,
        public: PublicPage | None = None,
        folded: Folded | None = None,
    ) -> None:
        self.app = app
        self.db = db
        self.public = public
        self.folded = folded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.public is not None:
            page = await self.public(Request(scope, receive))
            if page is not None:
                await page(scope, receive, send)
                return
        if self.folded is not None:
            replay = await self._folded(self.folded, scope, receive, send)
            if replay is None:
                return
            receive = replay
        try:
            principal = await authenticate(self.db, key_from_header(authorization_of(scope)))
            decision = await admit(self.db, principal)
        except Unauthenticated as error:
            await door_error_response(error, rest=is_rest(scope))(scope, receive, send)
            return
        except Exception as error:
            await failure_response(error, scope, "the key check")(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self._admitted(decision, self._guarded, scope, receive, send)

    async def _folded(
        self, folded: Folded, scope: Scope, receive: Receive, send: Send
    ) -> Receive | None:
        """Answer through `folded` (None: answered), or the `receive` for the usual path,
        which first replays whatever of the body `folded` read."""
        key_hash = key_hash_of(key_from_header(authorization_of(scope)))
        if key_hash is None:
            return receive
        read: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            read.append(message)
            return message

        try:
            answered = await folded(Request(scope, recording), key_hash)
            if answered is not None:
                decision = await admit(self.db, answered[0])
        except Exception as error:
            await failure_response(error, scope, "the key check")(scope, receive, send)
            return None
        if answered is None:

            async def replay() -> Message:
                return read.pop(0) if read else await receive()

            return replay
        await self._admitted(decision, answered[1], scope, receive, send)
        return None

    async def _admitted(
        self, decision: Decision, app: ASGIApp, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run `app` with the RateLimit fields added, or answer 429 (with them and Retry-After)."""
        state = f'"{POLICY}";r={decision.remaining};t={decision.reset_seconds}'
        fields = [_policy_field(decision.limit), (b"ratelimit", state.encode("latin-1"))]
        if not decision.allowed:
            RATE_LIMITED.inc()
            named = {name.decode(): value.decode() for name, value in fields}
            refused = door_error_response(refusal(decision), rest=is_rest(scope), headers=named)
            await refused(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await app(scope, receive, sending)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the door; an exception that escapes it before the response started is
        answered here in the door's shape (after that, only closing the stream is left)."""
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            if started:
                raise
            await failure_response(error, scope, str(scope["path"]))(scope, receive, send)
