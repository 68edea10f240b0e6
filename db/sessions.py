"""Session rules (scope, status machine, hashes); their statements are db/store/sessions.py."""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Counter

from db import clock, validation
from db import status as status_rules
from db.cursors import decode_session_cursor, encode_session_cursor
from db.errors import Conflict, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from db.fields import SESSION_FIELDS
from db.ids import SESSION_PREFIX, is_well_formed, new_session_id
from db.live.bus import Hint
from db.records import Principal, SessionRecord
from db.store import sessions as store
from db.store.engine import Database, Transaction
from db.windows import check_page_size

# Fields a client may set on create and update (API.md); everything else is the server's.
SETTABLE_FIELDS = {f.name: f for f in SESSION_FIELDS if f.settable}
# On create, null for these means "use the default" (pending, now + TTL).
_DEFAULTED_FIELDS = ("status", "expires_at")
DEFAULT_TTL = timedelta(days=7)
SESSIONS_CREATED = Counter("sessiongraph_sessions_created_total", "Sessions created.")


@dataclass(frozen=True, slots=True)
class SessionPage:
    items: list[SessionRecord]
    has_more: bool


def product_object_hash(product_object: dict[str, Any] | None) -> str | None:
    """First 32 hex of SHA-256 over compact, key-sorted JSON: key order and spacing don't count."""
    if product_object is None:
        return None
    canonical = orjson.dumps(product_object, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]


def cursor_of(record: SessionRecord) -> str:
    return encode_session_cursor(record.created_at, record.id)


def _clean(fields: Mapping[str, Any], now: datetime, *, creating: bool) -> dict[str, Any]:
    """Validate client-settable fields into column values; unknown names are refused."""
    values: dict[str, Any] = {}
    for name, value in fields.items():
        field = validation.api_name(name)
        if creating and value is None and name in _DEFAULTED_FIELDS:
            continue
        kind = SETTABLE_FIELDS[name].kind if name in SETTABLE_FIELDS else None
        if kind is None:
            raise InvalidInput(f"{field} cannot be set", field=field)
        if kind == "json":
            values[name] = validation.json_object(value, field)
        elif kind == "text":
            values[name] = validation.label(value, field)
        elif kind == "status":
            if not isinstance(value, str):
                raise InvalidInput(
                    "status must be one of " + ", ".join(status_rules.ALL), field=field
                )
            status_rules.check_known(value)
            if creating and value == status_rules.EXPIRED:  # the server's own status
                raise InvalidInput("a session cannot be created as expired", field=field)
            values[name] = value
        elif kind == "time":
            if value is None:
                raise InvalidInput(f"{field} cannot be cleared", field=field)
            values[name] = clock.truncate(validation.future_time(value, field, now))
    if "product_object" in values:
        values["product_object_hash"] = product_object_hash(values["product_object"])
    return values


async def create_session(
    db: Database,
    principal: Principal,
    fields: Mapping[str, Any],
    *,
    ttl: timedelta = DEFAULT_TTL,
    conn: Transaction | None = None,
) -> SessionRecord:
    """A session of the caller's organisation, user and plan; `conn`: the caller's transaction."""
    now = clock.now()
    row: dict[str, Any] = dict.fromkeys(SessionRecord.COLUMNS)
    row.update(
        id=new_session_id(),
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        status=status_rules.PENDING,
        plan=principal.plan.snapshot(),
        created_at=now,
        updated_at=now,
        expires_at=now + ttl,
        last_sequence=0,
        revision=1,
    )
    row.update(_clean(fields, now, creating=True))
    async with db.write(within=conn) as writing:
        if row["status"] not in status_rules.TERMINAL:
            live = await store.count_live(writing, principal.organization_id, now)
            if live >= (limit := principal.plan.max_sessions):
                raise LimitExceeded(
                    f"the organisation already has {live} live sessions and its plan's "
                    f"maxSessions is {limit}; finish, cancel or delete one first"
                )
        await store.insert(writing, row)
        db.announce(writing, Hint("created", row["id"], row["organization_id"]))
    SESSIONS_CREATED.inc()
    return SessionRecord.from_row(row, now)


async def find_session(db: Database, principal: Principal, session_id: str) -> SessionRecord | None:
    if not is_well_formed(session_id, SESSION_PREFIX):
        return None
    async with db.read() as conn:
        return await store.find(conn, principal.organization_id, session_id)


async def get_session(db: Database, principal: Principal, session_id: str) -> SessionRecord:
    record = await find_session(db, principal, session_id)
    if record is None:
        raise NotFound(f"session {session_id} not found")
    return record


async def sessions_by_id(
    db: Database, principal: Principal, session_ids: Sequence[str]
) -> dict[str, SessionRecord]:
    """Batch lookup for DataLoaders: ids of other organisations are simply absent."""
    wanted = [sid for sid in set(session_ids) if is_well_formed(sid, SESSION_PREFIX)]
    if not wanted:
        return {}
    async with db.read() as conn:
        found = await store.find_many(conn, principal.organization_id, wanted, clock.now())
    return {record.id: record for record in found}


def _filter(statuses: Iterable[str] | None, user_id: str | None) -> store.Filter:
    if user_id is not None:
        validation.free_of_nul(user_id, "userId")
    return statuses, user_id


async def list_sessions(
    db: Database,
    principal: Principal,
    *,
    limit: int = 20,
    after: str | None = None,
    statuses: Iterable[str] | None = None,
    user_id: str | None = None,
    newest_first: bool = True,
) -> SessionPage:
    """Keyset-paginated by (createdAt, id); filters on the status readers see and the creator."""
    check_page_size(limit, "first")
    now = clock.now()
    cursor = decode_session_cursor(after, field="after") if after is not None else None
    wanted = _filter(statuses, user_id)
    async with db.read() as conn:
        found = await store.page(
            conn, principal.organization_id, wanted, cursor, newest_first, limit + 1, now
        )
    return SessionPage(items=found[:limit], has_more=len(found) > limit)


async def count_sessions(
    db: Database,
    principal: Principal,
    *,
    statuses: Iterable[str] | None = None,
    user_id: str | None = None,
) -> int:
    """The size of a filtered list; a separate statement, run only when a client asks."""
    wanted = _filter(statuses, user_id)
    async with db.read() as conn:
        return await store.count(conn, principal.organization_id, wanted, clock.now())


async def update_session(
    db: Database,
    principal: Principal,
    session_id: str,
    changes: Mapping[str, Any],
    *,
    if_match: list[str] | None = None,
) -> SessionRecord:
    """A partial update under the row lock; `if_match`: ETags, any one matching is enough."""
    now = clock.now()
    values = _clean(changes, now, creating=False)
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    async with db.write() as conn:
        current = await store.find(conn, principal.organization_id, session_id, lock=True)
        if current is None:
            raise NotFound(f"session {session_id} not found")
        if if_match is not None and current.etag not in if_match:
            raise PreconditionFailed("the session changed since that ETag was issued")
        if current.is_terminal:
            raise Conflict(f"session is {current.status}; a {current.status} session cannot change")
        if "status" in values:
            status_rules.check_transition(current.status, values["status"])
        if not values:
            return current
        record = await store.update(conn, session_id, values, now)
    db.bus.publish(Hint("updated", session_id, record.organization_id))
    return record


async def delete_session(db: Database, principal: Principal, session_id: str) -> str:
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    async with db.write() as conn:
        if not await store.delete(conn, principal.organization_id, session_id):
            raise NotFound(f"session {session_id} not found")
        await store.bury(conn, [(session_id, principal.organization_id)], clock.now())
    db.bus.publish(Hint("deleted", session_id, principal.organization_id))
    return session_id
