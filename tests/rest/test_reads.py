"""REST reads written by the database equal the models' bodies, byte for byte."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from db import events as event_ops
from db import sessions as session_ops
from db.records import Principal
from db.store import read_sql
from db.store.engine import Database
from graph.rest import reads
from graph.rest.models import Event, EventList, Session, SessionList, SessionSummary
from tests.conftest import new_key
from tests.support.sessions import session_and_log


def _aliases(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def test_plans_show_the_models_fields_in_the_models_order() -> None:
    assert [k for k, _ in reads.SESSION] == _aliases(Session)
    assert [k for k, _ in reads.SUMMARY] == _aliases(SessionSummary)
    assert [k for k, _ in reads.EVENT] == _aliases(Event)
    listing = reads.session_list(cursor=False, statuses=None, creator=False)
    assert [k for k, _ in listing.entries[0][1].entries] == _aliases(SessionList)  # type: ignore[union-attr]
    page = reads.EVENT_PAGE.entries[0][1].entries[0][1]  # type: ignore[union-attr]
    assert [k for k, _ in page.entries] == _aliases(EventList)  # type: ignore[union-attr]


ODD: dict[str, Any] = {
    "z": 1,
    "a": [1e19, -0.0, 5e-324, 2**64 - 1, 'é ✓ 🚀 \u2028 \x01 "q" \\'],
    "ключ": {"🔑": None},
}


async def test_bodies_equal_the_models(db: Database, principal: Principal) -> None:
    session = await session_ops.create_session(
        db, principal, {"prd": ODD, "catalog_version": "v\n\x1f1", "schema_version": "é"}
    )
    for index in range(3):
        await event_ops.append_event(
            db, principal, session.id, type="warning", stage="s\t", message=f"m{index}\u2028",
            payload=ODD,
        )  # fmt: skip
    record, events = await session_and_log(db, principal, session.id)
    found = await read_sql.read_row(
        db, principal.organization_id, reads.SESSION_DOCUMENT, [session.id]
    )
    assert found is not None
    body, version = found
    assert body.encode() == Session.of(record, events).model_dump_json(by_alias=True).encode()
    assert f'"{version}"' == record.etag

    page = await read_sql.read_row(
        db, principal.organization_id, reads.EVENT_PAGE, [session.id, 2, 0]
    )
    expected = EventList(data=[Event.of(e) for e in events[:2]], has_more=True, next_after=2)
    assert page is not None and page[0].encode() == expected.model_dump_json(by_alias=True).encode()

    listing = reads.session_list(cursor=False, statuses=("pending",), creator=True)
    text = await read_sql.read(db, principal.organization_id, listing, [5, principal.user_id])
    summary = SessionList(data=[SessionSummary.of(record)], has_more=False, next_cursor=None)
    assert text.encode() == summary.model_dump_json(by_alias=True).encode()


async def test_a_missing_or_foreign_session_has_no_row(db: Database, principal: Principal) -> None:
    session = await session_ops.create_session(db, principal, {})
    other_principal, _ = await new_key(db)
    for who, wanted in ((principal, "sess_0123456789abcdef"), (other_principal, session.id)):
        found = await read_sql.read_row(db, who.organization_id, reads.SESSION_DOCUMENT, [wanted])
        assert found is None
