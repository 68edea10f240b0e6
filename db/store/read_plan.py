"""A read plan: what an answer shows, in order, and nothing about SQL (db/store/read_sql.py
renders it). Arguments are indexes of bound parameters, so one plan and one statement serve
every request of the same shape. A `Field` names a declared field (or `cursor`) of the row
it is under, else one of its page; an `Obj` is an object over the same row or page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class Text:
    """A constant string, e.g. `__typename`."""

    value: str


@dataclass(frozen=True, slots=True)
class Null: ...


@dataclass(frozen=True, slots=True)
class Obj:
    entries: Entries


@dataclass(frozen=True, slots=True)
class Rows:
    entries: Entries


@dataclass(frozen=True, slots=True)
class Window:
    """Parameter indexes of `first/after/last/before` (None: not given)."""

    first: int | None = None
    after: int | None = None
    last: int | None = None
    before: int | None = None


@dataclass(frozen=True, slots=True)
class EventPage:
    """A session's events in the window, under a session row."""

    window: Window
    entries: Entries


@dataclass(frozen=True, slots=True)
class EventList:
    """All of a session's events as an array of rows (REST's session body)."""

    entries: Entries


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Parameter indexes of the page size, the keyset cursor (time, id) and the creator."""

    first: int
    after: tuple[int, int] | None = None
    statuses: tuple[str, ...] | None = None
    user_id: int | None = None
    newest_first: bool = True


@dataclass(frozen=True, slots=True)
class SessionPage:
    query: SessionFilter
    entries: Entries


@dataclass(frozen=True, slots=True)
class SessionById:
    id: int
    entries: Entries


@dataclass(frozen=True, slots=True)
class EventById:
    id: int
    entries: Entries


Part = (
    Field | Text | Null | Obj | Rows | EventPage | EventList | SessionPage | SessionById | EventById
)
Entries = tuple[tuple[str, Part], ...]


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """`top`: "object", the entries' object (GraphQL's `data`); "single", the one entry's
    value; "row", a `SessionById`'s one entry with the session's version (REST's reads)."""

    entries: Entries
    enum_case: Literal["upper", "lower"] = "upper"
    top: Literal["object", "single", "row"] = "object"
