"""API keys on the wire: `Authorization: Bearer <key>`, or the bare key the reference page sends."""

from __future__ import annotations

from db.engine import Database
from db.keys import authenticate
from db.records import Principal


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
