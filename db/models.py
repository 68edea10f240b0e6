"""The tables. SQLModel classes describe the schema; hot reads use their Core tables directly."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# JSON objects, kept as the text the server wrote (`json`, not `jsonb`, which sorts keys
# and rewrites numbers, so a session read back would differ from the one created).
JsonObject = sa.JSON()
Timestamp = sa.DateTime(timezone=True)


class Organization(SQLModel, table=True):
    """A tenant; its plan limits are snapshotted into each session it creates."""

    __tablename__ = "organizations"

    id: str = Field(primary_key=True, max_length=255)
    plan_name: str = Field(max_length=255)
    max_sessions: int
    max_requests_per_minute: int
    created_at: datetime = Field(sa_type=Timestamp)


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is kept; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organizations.id", max_length=255, index=True)
    user_id: str = Field(max_length=255)
    prefix: str = Field(max_length=32)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=Timestamp)
    revoked_at: datetime | None = Field(default=None, sa_type=Timestamp)


class GenerationSession(SQLModel, table=True):
    """One run of a product generator; `last_sequence` numbers its events, `revision` its edits."""

    __tablename__ = "sessions"
    __table_args__ = (
        sa.Index("ix_sessions_org_created", "organization_id", "created_at", "id"),
        sa.Index("ix_sessions_org_status_created", "organization_id", "status", "created_at", "id"),
        sa.Index("ix_sessions_org_user_created", "organization_id", "user_id", "created_at", "id"),
        sa.Index("ix_sessions_status_expires", "status", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str | None = Field(default=None, max_length=255)
    user_id: str = Field(max_length=255)
    status: str = Field(max_length=16)
    assembly_state: dict[str, Any] | None = Field(default=None, sa_type=JsonObject)
    catalog_version: str | None = Field(default=None)
    plan: dict[str, Any] | None = Field(default=None, sa_type=JsonObject)
    prd: dict[str, Any] | None = Field(default=None, sa_type=JsonObject)
    product_object: dict[str, Any] | None = Field(default=None, sa_type=JsonObject)
    product_object_hash: str | None = Field(default=None, max_length=32)
    schema_version: str | None = Field(default=None)
    created_at: datetime = Field(sa_type=Timestamp)
    updated_at: datetime = Field(sa_type=Timestamp)
    expires_at: datetime = Field(sa_type=Timestamp)
    last_sequence: int = Field(default=0)
    revision: int = Field(default=1)


class Event(SQLModel, table=True):
    """One immutable entry of a session's log; `(session_id, sequence)` is unique and gapless."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "sequence", name="uq_events_session_sequence"),
    )

    id: str = Field(primary_key=True, max_length=32)
    session_id: str = Field(
        sa_column=sa.Column(
            sa.String(32), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        )
    )
    sequence: int
    organization_id: str | None = Field(default=None, max_length=255)
    user_id: str = Field(max_length=255)
    type: str = Field(max_length=16)
    stage: str | None = Field(default=None)
    message: str | None = Field(default=None)
    payload: dict[str, Any] | None = Field(default=None, sa_type=JsonObject)
    created_at: datetime = Field(sa_type=Timestamp)


class IdempotencyRecord(SQLModel, table=True):
    """The first response to an `Idempotency-Key`; its primary key is the claim."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.Index("ix_idempotency_keys_expires", "expires_at"),)

    organization_id: str = Field(primary_key=True, max_length=255)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int
    headers: dict[str, Any] = Field(sa_type=JsonObject)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=Timestamp)
    expires_at: datetime = Field(sa_type=Timestamp)


class RateWindow(SQLModel, table=True):
    """Requests admitted per organisation per minute, leased by processes (db/ratelimit.py)."""

    __tablename__ = "rate_windows"

    organization_id: str = Field(primary_key=True, max_length=255)
    minute: int = Field(primary_key=True, description="Minutes since the Unix epoch")
    used: int


class SessionTombstone(SQLModel, table=True):
    """A deleted session, remembered for a while (db/store/sessions.py)."""

    __tablename__ = "session_tombstones"
    __table_args__ = (
        sa.Index("ix_session_tombstones_org_deleted", "organization_id", "deleted_at"),
        sa.Index("ix_session_tombstones_deleted", "deleted_at"),
    )

    session_id: str = Field(primary_key=True, max_length=32)
    organization_id: str | None = Field(default=None, max_length=255)
    deleted_at: datetime = Field(sa_type=Timestamp)


organizations: sa.Table = Organization.__table__  # type: ignore[attr-defined]
api_keys: sa.Table = ApiKey.__table__  # type: ignore[attr-defined]
sessions: sa.Table = GenerationSession.__table__  # type: ignore[attr-defined]
events: sa.Table = Event.__table__  # type: ignore[attr-defined]
idempotency_keys: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
rate_windows: sa.Table = RateWindow.__table__  # type: ignore[attr-defined]
session_tombstones: sa.Table = SessionTombstone.__table__  # type: ignore[attr-defined]
metadata = SQLModel.metadata
