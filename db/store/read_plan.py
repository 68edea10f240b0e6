"""A read plan: what an answer shows, in the order it shows it, and nothing about SQL.

graph/ builds one from a validated GraphQL operation or a REST path; db/store/read_sql.py
renders it as one statement per engine that returns the whole answer as JSON text. The
plan holds no values: each argument is the index of a bound parameter, so one plan (and
one statement text, prepared once) serves every request of the same shape.

Scopes: the parts of a `SessionById`, `EventById` or `Rows` entry are fields of one row
(`Field` names a declared field, or `cursor`); the parts of a `SessionPage` or
`EventPage` are fields of the page (`has_next_page`, `has_previous_page`,
`start_cursor`, `end_cursor`, `total_count`), `Rows` for its rows and `Obj` for an object
over the same page (`pageInfo`) or row (an edge's `node`).
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
class Null:
    pass


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
    """The answer; enums in GraphQL's upper case or REST's lower case.

    `top`: "object", an object of the entries (GraphQL's `data`); "single", the one entry's
    value alone; "row", the value of the one entry of a `SessionById` rendered over that
    session's row, with the session's version beside it (REST's answers about one session).
    """

    entries: Entries
    enum_case: Literal["upper", "lower"] = "upper"
    top: Literal["object", "single", "row"] = "object"
