"""Data the read planner's tests query: every kind of value a stored row can hold.

One organisation gets sessions in every status the API shows (expired ones among them,
by expiry time or as the sweeper marks them), one expiring at the end of year 9999, an
empty one, one with 250 events, one
whose text and JSON fields hold unicode, control characters and awkward numbers, and
sessions of two other creators (one with a unicode name, one whose user id holds control
characters, written directly into the row). Another organisation holds a session and
events that must read as missing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from db import clock
from db import events as event_ops
from db import sessions as session_ops
from db.cursors import encode_session_cursor
from db.models import events, sessions
from db.records import Principal
from db.store.engine import Database
from graph.schema.build import Schema
from graph.schema.context import Context
from tests.conftest import new_key, unique

LONG_LOG = 250
CONTROL = "".join(chr(c) for c in range(1, 32)) + "\x7f"
ODD_TEXT = 'é ß 名前 😀 \u2028\u2029\u0085\ufeff \\ / " ' + CONTROL
# The JSON a session may hold: floats orjson writes in exponent form, -0.0, the smallest
# subnormal, the integer range's ends, keys out of order and keys that are not ASCII.
ODD_JSON: dict[str, Any] = {
    "z": 1,
    "a": 2,
    "numbers": [1e19, -9e18, -0.0, 5e-324, 0.1, 1e-7, 123.456, 2**64 - 1, -(2**63), 0],
    "ключ": {"名前": "😀", "b": None, "a": [True, False, [], {}]},
    "text": ODD_TEXT,
    "": "empty key",
}


def nested(depth: int) -> dict[str, Any]:
    """An object nested `depth` levels deep (the object itself being level 1)."""
    value: dict[str, Any] = {"leaf": "ü"}
    for level in range(depth - 1):
        value = {f"l{level}": value, "n": level}
    return value


def large_object(size: int) -> dict[str, Any]:
    """About `size` bytes of JSON, text and numbers mixed."""
    return {
        "blob": "x" * (size // 2),
        "items": [{"i": i, "name": f"ñ{i}", "f": i / 7} for i in range(size // 60)],
    }


@dataclass
class Dataset:
    principal: Principal
    # Role → session id, in the caller's organisation.
    sessions: dict[str, str]
    events: list[str]
    foreign_session: str
    foreign_event: str
    users: list[str]
    # Cursors the API handed out for the caller's sessions, and one of another organisation.
    cursors: list[str]
    foreign_cursor: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def session_ids(self) -> list[str]:
        return list(self.sessions.values())


async def set_columns(db: Database, table: sa.Table, row_id: str, **values: Any) -> None:
    async with db.write() as conn:
        await conn.execute(table.update().where(table.c.id == row_id).values(**values))


async def make_dataset(db: Database, principal: Principal, schema: Schema) -> Dataset:
    ids: dict[str, str] = {}
    event_ids: list[str] = []

    async def create(role: str, who: Principal = principal, **fields: Any) -> str:
        ids[role] = (await session_ops.create_session(db, who, fields)).id
        return ids[role]

    async def append(session_id: str, who: Principal = principal, **fields: Any) -> None:
        fields.setdefault("type", "info")
        event_ids.append((await event_ops.append_event(db, who, session_id, **fields)).id)

    await create("empty")
    odd = await create(
        "odd",
        catalog_version=ODD_TEXT,
        schema_version="v" + CONTROL[::-1] + "😀",
        prd=ODD_JSON,
        assembly_state=nested(64),
        product_object=large_object(100_000),
    )
    for kind, stage, message, payload in [
        ("debug", ODD_TEXT, ODD_TEXT, ODD_JSON),
        ("info", "s" * 255, "m" * 65_536, nested(64)),
        ("warning", None, None, None),
        ("error", "é", "\t\n\r", {"k": [1e19, -0.0, 5e-324, 2**64 - 1]}),
    ]:
        await append(odd, type=kind, stage=stage, message=message, payload=payload)
    long = await create("long", prd={"n": 1})
    for number in range(1, LONG_LOG + 1):
        await append(long, message=f"m{number}", payload={"i": number} if number % 3 else None)
    generating = await create("generating", status="generating")
    for _ in range(2):
        await append(generating, type="warning", stage="build")
    # The latest time a timestamp can hold, shown with its milliseconds.
    await create("far", expires_at=datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))
    await create("completed", status="completed")
    await create("failed", status="failed")
    await create("cancelled", status="cancelled")
    past = clock.now() - timedelta(days=1)
    # A live session past its expiry reads as expired, swept or not; terminal ones keep
    # their status.
    expired = await create("expired", status="assembling")
    await append(expired)
    await set_columns(db, sessions, expired, expires_at=past)
    swept = await create("swept")
    await set_columns(db, sessions, swept, status="expired", expires_at=past)
    await set_columns(db, sessions, ids["completed"], expires_at=past)
    # Other creators in the same organisation.
    other_user, _ = await new_key(db, principal.organization_id, "üser 名前 😀")
    unicode_session = await create("unicode_user", other_user, catalog_version="v2")
    await append(unicode_session, other_user, message="by üser")
    control_user = "ctl" + CONTROL + "😀"
    controlled = await create("control_user")
    await append(controlled, message="control")
    await set_columns(db, sessions, controlled, user_id=control_user)
    async with db.write() as conn:
        await conn.execute(
            events.update().where(events.c.session_id == controlled).values(user_id=control_user)
        )
    # Another organisation: its ids must read as missing ones do.
    stranger, _ = await new_key(db, unique("org"))
    foreign = await session_ops.create_session(db, stranger, {"prd": {"secret": 1}})
    foreign_event = await event_ops.append_event(db, stranger, foreign.id, type="info")
    await event_ops.append_event(db, stranger, foreign.id, type="info")

    listing = await schema.execute(
        "{ sessions(first: 100) { edges { cursor } } }",
        context_value=Context(db=db, principal=principal, session_ttl_seconds=3600),
    )
    assert listing.data is not None, listing.errors
    cursors = [edge["cursor"] for edge in listing.data["sessions"]["edges"]]
    assert len(cursors) == len(ids)
    return Dataset(
        principal=principal,
        sessions=ids,
        events=event_ids,
        foreign_session=foreign.id,
        foreign_event=foreign_event.id,
        users=[principal.user_id, other_user.user_id, control_user],
        cursors=cursors,
        foreign_cursor=encode_session_cursor(foreign.created_at, foreign.id),
    )


def raw_cursor(text: str) -> str:
    """A session cursor as the server would encode `text` (forged ones among them)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# Cursors nobody was handed: well-formed ones (they page from where they say) and ones
# the resolvers refuse.
FORGED_CURSORS = [
    raw_cursor("2000-01-01T00:00:00.000Z|sess_0123456789abcdef"),
    raw_cursor("9999-12-31T23:59:59.999Z|sess_ffffffffffffffff"),
    raw_cursor("2100-01-01T00:00:00.000+02:00|sess_0123456789abcdef"),
]
BAD_CURSORS = [
    "x",
    "0",
    "",
    "AAAA",
    "99999999999999999999",
    raw_cursor("garbage"),
    raw_cursor("2024-01-01T00:00:00.000Z|evt_0123456789abcdef"),
    raw_cursor("2024-01-01T00:00:00.000|sess_0123456789abcdef"),
    raw_cursor("not a time|sess_0123456789abcdef"),
    raw_cursor("2024-01-01T00:00:00.000Z|sess_0123456789abcdef|x"),
    "ü",
]
