"""Which driver failures mean "the database cannot serve now" (a dropped connection, a
restarting server, a full disk, a read-only file) rather than "a bug": the doors answer 503
with `Retry-After`, readiness reports it, and background work logs one line and retries."""

import logging
import sqlite3
from collections.abc import Iterator

import asyncpg
import sqlalchemy.exc

from db.errors import ServiceUnavailable

UNREACHABLE = "unreachable"
BUSY = "busy"
READ_ONLY = "read_only"

_MESSAGES = {
    UNREACHABLE: "the database is unavailable; retry shortly",
    BUSY: "the database is busy; retry shortly",
    READ_ONLY: "the database refuses writes; retry later",
}
# The connection is gone or cannot be made (SQLSTATE class 08, 57P01-03 shutdown/restart,
# 53300 too many connections; InternalClientError: a pooled connection whose server end was
# terminated while idle; OSError: refused, reset or timed out), or the server refuses writes
# (25006 read-only, e.g. a standby after failover; 53100 disk full).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)
_PG_READ_ONLY = (asyncpg.exceptions.ReadOnlySQLTransactionError, asyncpg.exceptions.DiskFullError)
# SQLite reports everything as OperationalError; only these messages mean the file
# cannot be used right now (rather than a wrong statement or a corrupt file).
_SQLITE = {
    READ_ONLY: ("readonly database", "database or disk is full"),
    UNREACHABLE: ("unable to open database file", "disk i/o error"),
    BUSY: ("database is locked", "database is busy"),
}


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, the driver error SQLAlchemy wraps, and what each was raised from."""
    seen: set[int] = set()
    pending = [error]
    while pending and len(seen) < 16:
        current = pending.pop()
        if id(current) not in seen:
            seen.add(id(current))
            yield current
            nexts = (getattr(current, "orig", None), current.__cause__, current.__context__)
            pending += [e for e in nexts if isinstance(e, BaseException)]


def _reason(error: BaseException) -> str | None:
    if isinstance(error, _PG_READ_ONLY):
        return READ_ONLY
    if isinstance(error, sqlalchemy.exc.TimeoutError):
        return BUSY  # no pooled connection came free in time
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return next((r for r, needles in _SQLITE.items() if any(n in text for n in needles)), None)
    if (
        isinstance(error, _UNREACHABLE)
        # "connection is closed": the server or network dropped it
        or (isinstance(error, asyncpg.InterfaceError) and "closed" in str(error))
        or (isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated)
    ):
        return UNREACHABLE
    return None


def unavailable(error: BaseException) -> ServiceUnavailable | None:
    """`ServiceUnavailable` when `error` (or what caused it) means the database cannot
    serve now; None for anything else (a bug, answered 500)."""
    if isinstance(error, ServiceUnavailable):
        return error
    for cause in _causes(error):
        reason = _reason(cause)
        if reason is not None:
            return ServiceUnavailable(_MESSAGES[reason], reason=reason)
    return None


def log_failure(log: logging.Logger, error: BaseException, what: str) -> None:
    """A failed background step: one warning line for an outage, a traceback for a bug."""
    if unavailable(error) is not None:
        log.warning("%s: database unavailable: %s: %s", what, type(error).__name__, error)
    else:
        log.error("%s", what, exc_info=error)
