"""The REST reads as read plans: the database writes their bodies, as it does for GraphQL,
with the fields `db/fields.py` declares in the models' (alphabetical) order, enums in lower
case (`tests/rest/test_reads.py` holds the plans to the models)."""

from functools import cache

from db.fields import EVENT_FIELDS, SESSION_FIELDS
from db.store.read_plan import (
    Entries,
    EventList,
    EventPage,
    Field,
    Obj,
    ReadPlan,
    Rows,
    SessionById,
    SessionFilter,
    SessionPage,
    Window,
)

EVENT: Entries = tuple(sorted((f.api, Field(f.name)) for f in EVENT_FIELDS))
SUMMARY: Entries = tuple(
    sorted((f.api, Field(f.name)) for f in SESSION_FIELDS if f.kind != "count")
)
SESSION: Entries = tuple(sorted((*SUMMARY, ("events", EventList(EVENT)))))


def _page(rows: Entries, next_key: str, next_field: str) -> Entries:
    return (
        ("data", Rows(rows)),
        ("hasMore", Field("has_next_page")),
        (next_key, Field(next_field)),
    )


# GET /:id — the session with its whole log, and its version for the ETag.
SESSION_DOCUMENT = ReadPlan(
    (("session", SessionById(0, (("body", Obj(SESSION)),))),), enum_case="lower", top="row"
)
# GET /:id/events?after=&limit= — parameters: session id, limit, after.
_EVENTS = EventPage(Window(first=1, after=2), _page(EVENT, "nextAfter", "next_after"))
EVENT_PAGE = ReadPlan(
    (("session", SessionById(0, (("page", _EVENTS),))),), enum_case="lower", top="row"
)


@cache
def session_list(*, cursor: bool, statuses: tuple[str, ...] | None, creator: bool) -> ReadPlan:
    """GET / — parameters: limit, then the cursor's time and id, then the creator."""
    after = (1, 2) if cursor else None
    user_id = (3 if cursor else 1) if creator else None
    query = SessionFilter(first=0, after=after, statuses=statuses, user_id=user_id)
    page = SessionPage(query, _page(SUMMARY, "nextCursor", "next_cursor"))
    return ReadPlan((("page", page),), enum_case="lower", top="single")
