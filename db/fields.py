"""Each resource's fields, declared once: records, writes, the read planner's SQL and the
checks on the public GraphQL and REST types all take them from here."""

from dataclasses import dataclass
from typing import Literal

# `time`: UTC, shown as RFC 3339 with milliseconds; `status`: the status readers see (a live
# session past expiry reads as expired); `count`: the event count (the last sequence).
Kind = Literal["text", "json", "time", "int", "status", "enum", "count"]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    api: str
    kind: Kind
    nullable: bool = False
    settable: bool = False

    @property
    def column(self) -> str:
        """The stored column; the event count is kept as the session's last sequence."""
        return "last_sequence" if self.kind == "count" else self.name


SESSION_FIELDS = (
    Field("id", "id", "text"),
    Field("organization_id", "organizationId", "text", nullable=True),
    Field("user_id", "userId", "text"),
    Field("status", "status", "status", settable=True),
    Field("assembly_state", "assemblyState", "json", nullable=True, settable=True),
    Field("catalog_version", "catalogVersion", "text", nullable=True, settable=True),
    Field("plan", "plan", "json", nullable=True),
    Field("prd", "prd", "json", nullable=True, settable=True),
    Field("product_object", "productObject", "json", nullable=True, settable=True),
    Field("product_object_hash", "productObjectHash", "text", nullable=True),
    Field("schema_version", "schemaVersion", "text", nullable=True, settable=True),
    Field("created_at", "createdAt", "time"),
    Field("updated_at", "updatedAt", "time"),
    Field("expires_at", "expiresAt", "time", settable=True),
    Field("event_count", "eventCount", "count"),
)
EVENT_FIELDS = (
    Field("id", "id", "text"),
    Field("sequence", "sequence", "int"),
    Field("session_id", "sessionId", "text"),
    Field("organization_id", "organizationId", "text", nullable=True),
    Field("user_id", "userId", "text"),
    Field("type", "type", "enum", settable=True),
    Field("stage", "stage", "text", nullable=True, settable=True),
    Field("message", "message", "text", nullable=True, settable=True),
    Field("payload", "payload", "json", nullable=True, settable=True),
    Field("created_at", "createdAt", "time"),
)
SESSIONS = {f.name: f for f in SESSION_FIELDS}
EVENTS = {f.name: f for f in EVENT_FIELDS}
