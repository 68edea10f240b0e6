"""Response bodies of the hottest REST answers, written by orjson straight from records.

`Session.of(...).model_dump_json()` builds a pydantic model per event and validates what
the database already guarantees; for a session with its log that is most of the handler's
time. These functions write the same bytes (keys in the models' order, the reference
page's order) from plain dicts. `tests/rest/test_bodies.py` checks them against the
models on generated records, byte for byte; anything orjson cannot write the same way
(integers beyond 64 bits) goes through the models instead.
"""

from __future__ import annotations

from typing import Any

import orjson

from db.clock import to_rfc3339
from db.records import EventRecord, SessionRecord
from graph.rest.models import Event, Session


def event_fields(record: EventRecord) -> dict[str, Any]:
    return {
        "createdAt": to_rfc3339(record.created_at),
        "id": record.id,
        "message": record.message,
        "organizationId": record.organization_id,
        "payload": record.payload,
        "sequence": record.sequence,
        "sessionId": record.session_id,
        "stage": record.stage,
        "type": record.type,
        "userId": record.user_id,
    }


def session_fields(record: SessionRecord, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "assemblyState": record.assembly_state,
        "catalogVersion": record.catalog_version,
        "createdAt": to_rfc3339(record.created_at),
        "events": events,
        "expiresAt": to_rfc3339(record.expires_at),
        "id": record.id,
        "organizationId": record.organization_id,
        "plan": record.plan,
        "prd": record.prd,
        "productObject": record.product_object,
        "productObjectHash": record.product_object_hash,
        "schemaVersion": record.schema_version,
        "status": record.status,
        "updatedAt": to_rfc3339(record.updated_at),
        "userId": record.user_id,
    }


def session_body(record: SessionRecord, events: list[EventRecord]) -> bytes:
    """Exactly `Session.of(record, events).model_dump_json(by_alias=True)`, encoded."""
    try:
        return orjson.dumps(session_fields(record, [event_fields(e) for e in events]))
    except TypeError:
        return Session.of(record, events).model_dump_json(by_alias=True).encode()


def event_body(record: EventRecord) -> bytes:
    """Exactly `Event.of(record).model_dump_json(by_alias=True)`, encoded."""
    try:
        return orjson.dumps(event_fields(record))
    except TypeError:
        return Event.of(record).model_dump_json(by_alias=True).encode()
