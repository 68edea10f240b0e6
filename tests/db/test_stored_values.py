"""What no engine can store is refused on both: NUL characters, lone surrogates, and JSON
numbers beyond the 64-bit integers' range (PostgreSQL would hand 1e237 back as 238 digits)."""

from __future__ import annotations

from typing import Any

import pytest

from db import events as event_ops
from db import sessions as session_ops
from db.errors import InvalidInput
from db.records import Principal
from db.store.engine import Database


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"catalog_version": "a\x00b"},
            "catalogVersion must not contain the NUL character (U+0000)",
        ),
        ({"prd": {"k\x00": 1}}, "prd must not contain the NUL character (U+0000)"),
        ({"prd": {"k": ["\x00"]}}, "prd must not contain the NUL character (U+0000)"),
        ({"schema_version": "\ud800"}, "schemaVersion must be valid Unicode text"),
        ({"product_object": {"n": 2**64}}, "productObject holds a number outside -2^63..2^64-1"),
        (
            {"product_object": {"n": -(2**63) - 1}},
            "productObject holds a number outside -2^63..2^64-1",
        ),
        ({"assembly_state": {"n": 1e237}}, "assemblyState holds a number outside -2^63..2^64-1"),
    ],
)
async def test_unstorable_values_are_refused(
    db: Database, principal: Principal, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await session_ops.create_session(db, principal, fields)
    assert caught.value.message == message


async def test_edge_values_round_trip(db: Database, principal: Principal) -> None:
    prd = {"min": -(2**63), "max": 2**64 - 1, "f": 1.5, "text": "é ✓ 🚀", "nested": [True, None]}
    record = await session_ops.create_session(db, principal, {"prd": prd})
    assert (await session_ops.get_session(db, principal, record.id)).prd == prd
    with pytest.raises(InvalidInput, match="message must not contain the NUL"):
        await event_ops.append_event(db, principal, record.id, type="info", message="\x00")


async def test_filtering_on_unstorable_text_is_refused(db: Database, principal: Principal) -> None:
    await session_ops.create_session(db, principal, {})
    for user_id in ("a\x00b", "\ud800"):
        with pytest.raises(InvalidInput) as caught:
            await session_ops.list_sessions(db, principal, user_id=user_id)
        assert caught.value.field == "userId"
        with pytest.raises(InvalidInput):
            await session_ops.count_sessions(db, principal, user_id=user_id)
