"""Typed domain errors; graph/schema/errors.py maps each to its HTTP status and GraphQL code."""


class DomainError(Exception):
    """Base of every error a caller can cause; the message is safe to show to the caller."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The id does not exist, or belongs to another organisation (indistinguishable on purpose)."""


class Conflict(DomainError):
    """The request is well formed but the current state forbids it (e.g. illegal transition)."""


class InvalidInput(DomainError):
    """A field or argument fails validation; `field` names it when one field is to blame."""


class Unauthenticated(DomainError):
    """Missing, unknown or revoked API key."""


class LimitExceeded(DomainError):
    """A plan limit refuses the request (e.g. too many live sessions)."""


class PreconditionFailed(DomainError):
    """The caller's `If-Match` version is stale: someone changed the session first."""


class RateLimited(DomainError):
    """The organisation spent its plan's `maxRequestsPerMinute`; retry after the minute ends."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class IdempotencyKeyReused(InvalidInput):
    """An `Idempotency-Key` already used for a different request (method, path or body)."""


class ServiceUnavailable(DomainError):
    """The database cannot serve now; `reason` (`/readyz`): unreachable, busy or read_only."""

    # Long enough not to hammer a restarting database, short enough for a dropped connection.
    retry_after_seconds = 2

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
