"""The REST reads as read plans: the database writes their bodies, as it does for GraphQL.

Bodies keep the reference page's shape: keys in alphabetical order (the models' order),
statuses and event types in lower case. The fields come from the declaration in
`db/fields.py`; `tests/rest/test_reads.py` holds these plans to the pydantic models.
A request the plan cannot answer exactly (a session that is not there, an argument the
operation refuses) is left to the handler's operation, which reports it.
"""

from __future__ import annotations

from functools import cache

from db.fields import EVENT_FIELDS, SESSION_FIELDS
from db.store.read_plan import (
    Entries,
    EventList,
    EventPage,
    Field,
    Obj,
    Part,
    ReadPlan,
    Rows,
    SessionById,
    SessionFilter,
    SessionPage,
    Window,
)


def _fields(fields: Entries) -> Entries:
    return tuple(sorted(fields))


EVENT: Entries = _fields(tuple((f.api, Field(f.name)) for f in EVENT_FIELDS))
SUMMARY: Entries = _fields(
    tuple((f.api, Field(f.name)) for f in SESSION_FIELDS if f.kind != "count")
)
SESSION: Entries = _fields((*SUMMARY, ("events", EventList(EVENT))))

# GET /:id — the session with its whole log, and its version for the ETag.
SESSION_DOCUMENT = ReadPlan(
    (("session", SessionById(0, (("body", Obj(SESSION)),))),), enum_case="lower", top="row"
)
# GET /:id/events?after=&limit= — parameters: session id, limit, after.
EVENT_PAGE = ReadPlan(
    (
        (
            "session",
            SessionById(
                0,
                (
                    (
                        "page",
                        EventPage(
                            Window(first=1, after=2),
                            (
                                ("data", Rows(EVENT)),
                                ("hasMore", Field("has_next_page")),
                                ("nextAfter", Field("next_after")),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    ),
    enum_case="lower",
    top="row",
)


@cache
def session_list(*, cursor: bool, statuses: tuple[str, ...] | None, creator: bool) -> ReadPlan:
    """GET / — parameters: limit, then the cursor's time and id, then the creator."""
    after = (1, 2) if cursor else None
    user_id = (3 if cursor else 1) if creator else None
    page: Part = SessionPage(
        SessionFilter(first=0, after=after, statuses=statuses, user_id=user_id),
        (
            ("data", Rows(SUMMARY)),
            ("hasMore", Field("has_next_page")),
            ("nextCursor", Field("next_cursor")),
        ),
    )
    return ReadPlan((("page", page),), enum_case="lower", top="single")
