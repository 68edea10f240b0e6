"""Plain, immutable values that operations return: no ORM identity map on the hot path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import status as status_rules
from db.clock import as_utc


@dataclass(frozen=True, slots=True)
class Plan:
    """An organisation's limits; sessions keep a snapshot of it as `plan`."""

    name: str
    max_sessions: int
    max_requests_per_minute: int

    def snapshot(self) -> dict[str, Any]:
        """The JSON shape of API.md: `{"name":…, "limits":{"maxSessions":N, …}}`."""
        return {
            "name": self.name,
            "limits": {
                "maxSessions": self.max_sessions,
                "maxRequestsPerMinute": self.max_requests_per_minute,
            },
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from an API key; every operation is scoped by it."""

    key_id: str
    organization_id: str
    user_id: str
    plan: Plan


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    organization_id: str | None
    user_id: str
    status: str
    assembly_state: dict[str, Any] | None
    catalog_version: str | None
    plan: dict[str, Any] | None
    prd: dict[str, Any] | None
    product_object: dict[str, Any] | None
    product_object_hash: str | None
    schema_version: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    last_sequence: int
    revision: int

    @property
    def event_count(self) -> int:
        """Sequences are gapless from 1 and events are never removed one by one."""
        return self.last_sequence

    @property
    def is_terminal(self) -> bool:
        return status_rules.is_terminal(self.status)

    @property
    def etag(self) -> str:
        """Changes whenever the session's fields (revision) or its events (sequence) change."""
        return f'"{self.id}.{self.revision}.{self.last_sequence}"'

    @classmethod
    def from_row(cls, row: Any, now: datetime) -> SessionRecord:
        expires_at = as_utc(row.expires_at)
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            user_id=row.user_id,
            status=status_rules.effective(row.status, expires_at, now),
            assembly_state=row.assembly_state,
            catalog_version=row.catalog_version,
            plan=row.plan,
            prd=row.prd,
            product_object=row.product_object,
            product_object_hash=row.product_object_hash,
            schema_version=row.schema_version,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            expires_at=expires_at,
            last_sequence=row.last_sequence,
            revision=row.revision,
        )


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: str
    session_id: str
    sequence: int
    organization_id: str | None
    user_id: str
    type: str
    stage: str | None
    message: str | None
    payload: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> EventRecord:
        return cls(
            id=row.id,
            session_id=row.session_id,
            sequence=row.sequence,
            organization_id=row.organization_id,
            user_id=row.user_id,
            type=row.type,
            stage=row.stage,
            message=row.message,
            payload=row.payload,
            created_at=as_utc(row.created_at),
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as people may see it: never the secret, never its hash."""

    id: str
    organization_id: str
    user_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> KeyRecord:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            user_id=row.user_id,
            prefix=row.prefix,
            created_at=as_utc(row.created_at),
            revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
        )


class MappingRow:
    """Attribute access over a dict, so a row we just inserted maps like one we fetched."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None
