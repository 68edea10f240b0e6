"""The bodies of the hottest REST answers (create, append), written by orjson from the fields
`db/fields.py` declares: the models' bytes without their validation (`tests/rest/test_bodies.py`
holds them to the models); what orjson cannot write (integers beyond 64 bits) uses the models."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import orjson

from db.clock import to_rfc3339
from db.fields import EVENT_FIELDS, SESSION_FIELDS, Field
from db.records import EventRecord, SessionRecord
from graph.rest.models import Event, Session


def _writer(fields: tuple[Field, ...]) -> Callable[[Any], dict[str, Any]]:
    """A record's declared fields in the models' order (by JSON name), times in RFC 3339."""
    ordered = sorted((f for f in fields if f.kind != "count"), key=lambda f: f.api)
    names = [f.api for f in ordered]
    values = attrgetter(*(f.name for f in ordered))
    times = [i for i, f in enumerate(ordered) if f.kind == "time"]

    def write(record: Any) -> dict[str, Any]:
        found = list(values(record))
        for i in times:
            found[i] = to_rfc3339(found[i])
        return dict(zip(names, found, strict=True))

    return write


_event = _writer(EVENT_FIELDS)
_session = _writer(SESSION_FIELDS)


def session_body(record: SessionRecord, events: list[EventRecord]) -> bytes:
    """Exactly `Session.of(record, events).model_dump_json(by_alias=True)`, encoded."""
    body = _session(record) | {"events": [_event(e) for e in events]}
    try:
        return orjson.dumps(dict(sorted(body.items())))
    except TypeError:
        return Session.of(record, events).model_dump_json(by_alias=True).encode()


def event_body(record: EventRecord) -> bytes:
    """Exactly `Event.of(record).model_dump_json(by_alias=True)`, encoded."""
    try:
        return orjson.dumps(_event(record))
    except TypeError:
        return Event.of(record).model_dump_json(by_alias=True).encode()
