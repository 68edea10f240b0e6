"""Plain, immutable values that operations return: no ORM identity map on the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, ClassVar

from db import status as status_rules
from db.clock import as_utc
from db.fields import EVENT_FIELDS, SESSION_FIELDS, Field


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    max_sessions: int
    max_requests_per_minute: int

    def snapshot(self) -> dict[str, Any]:
        """What sessions keep as `plan`, in the JSON shape of API.md."""
        return {
            "name": self.name,
            "limits": {
                "maxSessions": self.max_sessions,
                "maxRequestsPerMinute": self.max_requests_per_minute,
            },
        }


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    organization_id: str
    user_id: str
    plan: Plan


class Record(SimpleNamespace):
    """A row's values by column (db/fields.py and `extra`); a test checks the annotations."""

    FIELDS: ClassVar[tuple[Field, ...]]
    COLUMNS: ClassVar[tuple[str, ...]]
    TIMES: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, extra: tuple[str, ...] = ()) -> None:
        cls.COLUMNS = tuple(f.column for f in cls.FIELDS) + extra
        cls.TIMES = tuple(f.column for f in cls.FIELDS if f.kind == "time")

    @classmethod
    def read(cls, row: Any) -> dict[str, Any]:
        """A row's (or dict's) values, times in UTC (SQLite hands back naive ones)."""
        mapping = row if isinstance(row, dict) else row._mapping
        values = {column: mapping[column] for column in cls.COLUMNS}
        values.update((c, as_utc(values[c])) for c in cls.TIMES if values[c] is not None)
        return values

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


class SessionRecord(Record, extra=("revision",)):
    FIELDS = SESSION_FIELDS
    id: str
    organization_id: str | None
    status: str
    created_at: datetime
    expires_at: datetime
    last_sequence: int
    revision: int

    @property
    def event_count(self) -> int:
        """Sequences are gapless from 1 and events are never removed one by one."""
        return self.last_sequence

    @property
    def is_terminal(self) -> bool:
        return self.status in status_rules.TERMINAL

    @property
    def etag(self) -> str:
        """Changes with the session's fields (revision) or events (sequence); `version_sql`."""
        return f'"{self.id}.{self.revision}.{self.last_sequence}"'

    @staticmethod
    def version_sql(alias: str) -> str:
        """The ETag's version over the row `alias`, unquoted, for planned reads."""
        return f"{alias}.id || '.' || {alias}.revision || '.' || {alias}.last_sequence"

    @classmethod
    def from_row(cls, row: Any, now: datetime) -> SessionRecord:
        """The status is the one readers see (`status_rules.effective`)."""
        values = cls.read(row)
        values["status"] = status_rules.effective(values["status"], values["expires_at"], now)
        return cls(**values)


class EventRecord(Record):
    FIELDS = EVENT_FIELDS
    id: str
    session_id: str
    sequence: int
    organization_id: str | None

    @classmethod
    def from_row(cls, row: Any) -> EventRecord:
        return cls(**cls.read(row))


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
        revoked_at = as_utc(row.revoked_at) if row.revoked_at is not None else None
        names = (row.id, row.organization_id, row.user_id, row.prefix)
        return cls(*names, as_utc(row.created_at), revoked_at)
