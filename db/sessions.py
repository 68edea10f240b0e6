"""Session operations: every rule about sessions (scope, status machine, hashes) lives here."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db import clock, tombstones, validation
from db import status as status_rules
from db.cursors import decode_session_cursor, encode_session_cursor
from db.errors import Conflict, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from db.fields import SESSION_FIELDS
from db.hashing import product_object_hash
from db.ids import SESSION_PREFIX, is_well_formed, new_session_id
from db.live.bus import Hint
from db.metrics import SESSIONS_CREATED
from db.models import events, organizations, sessions
from db.records import MappingRow, Principal, SessionRecord
from db.store.engine import Database
from db.windows import check_page_size

# Fields a client may set on create and update (API.md); everything else is the server's.
SETTABLE_FIELDS = tuple(f.name for f in SESSION_FIELDS if f.settable)
_JSON_FIELDS = tuple(f.name for f in SESSION_FIELDS if f.settable and f.kind == "json")
_LABEL_FIELDS = tuple(f.name for f in SESSION_FIELDS if f.settable and f.kind == "text")
# On create, null for these means "use the default" (pending, now + TTL).
_DEFAULTED_FIELDS = ("status", "expires_at")
DEFAULT_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SessionPage:
    items: list[SessionRecord]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        if not self.has_more or not self.items:
            return None
        return cursor_of(self.items[-1])


def cursor_of(record: SessionRecord) -> str:
    return encode_session_cursor(record.created_at, record.id)


def _clean(fields: Mapping[str, Any], now: datetime, *, creating: bool) -> dict[str, Any]:
    """Validate client-settable fields into column values; unknown names are refused."""
    values: dict[str, Any] = {}
    for name, value in fields.items():
        field = validation.api_name(name)
        if creating and value is None and name in _DEFAULTED_FIELDS:
            continue
        if name not in SETTABLE_FIELDS:
            raise InvalidInput(f"{field} cannot be set", field=field)
        if name in _JSON_FIELDS:
            values[name] = validation.json_object(value, field)
        elif name in _LABEL_FIELDS:
            values[name] = validation.label(value, field)
        elif name == "status":
            if not isinstance(value, str):
                raise InvalidInput(
                    "status must be one of " + ", ".join(status_rules.ALL), field=field
                )
            status_rules.check_known(value)
            if creating and value not in status_rules.CREATABLE:
                raise InvalidInput("a session cannot be created as expired", field=field)
            values[name] = value
        elif name == "expires_at":
            if value is None:
                raise InvalidInput("expiresAt cannot be cleared", field=field)
            values[name] = clock.truncate(validation.future_time(value, field, now))
    if "product_object" in values:
        values["product_object_hash"] = product_object_hash(values["product_object"])
    return values


def _scoped(principal: Principal) -> sa.ColumnElement[bool]:
    return sessions.c.organization_id == principal.organization_id


def _status_condition(wanted: Iterable[str], now: datetime) -> sa.ColumnElement[bool]:
    """Filter on the status readers see, so a live session past expiry counts as expired."""
    clauses: list[sa.ColumnElement[bool]] = []
    for status in sorted(set(wanted)):
        status_rules.check_known(status)
        if status == status_rules.EXPIRED:
            clauses.append(
                sa.or_(
                    sessions.c.status == status_rules.EXPIRED,
                    sa.and_(sessions.c.status.in_(status_rules.LIVE), sessions.c.expires_at <= now),
                )
            )
        elif status in status_rules.TERMINAL:
            clauses.append(sessions.c.status == status)
        else:
            clauses.append(sa.and_(sessions.c.status == status, sessions.c.expires_at > now))
    return sa.or_(*clauses) if clauses else sa.false()


async def create_session(
    db: Database,
    principal: Principal,
    fields: Mapping[str, Any],
    *,
    ttl: timedelta = DEFAULT_TTL,
    conn: AsyncConnection | None = None,
) -> SessionRecord:
    """Create a session owned by the caller's organisation and user, with its plan snapshot.

    `conn` runs it inside a write transaction the caller holds (see `Database.write`).
    """
    now = clock.now()
    values = _clean(fields, now, creating=True)
    row: dict[str, Any] = {
        "id": new_session_id(),
        "organization_id": principal.organization_id,
        "user_id": principal.user_id,
        "status": status_rules.PENDING,
        "assembly_state": None,
        "catalog_version": None,
        "plan": principal.plan.snapshot(),
        "prd": None,
        "product_object": None,
        "product_object_hash": None,
        "schema_version": None,
        "created_at": now,
        "updated_at": now,
        "expires_at": now + ttl,
        "last_sequence": 0,
        "revision": 1,
    }
    row.update(values)
    async with db.write(within=conn) as writing:
        if not status_rules.is_terminal(row["status"]):
            await _check_session_quota(writing, principal, now)
        await writing.execute(sessions.insert().values(row))
        db.announce(writing, Hint("created", row["id"], row["organization_id"]))
    SESSIONS_CREATED.inc()
    return SessionRecord.from_row(MappingRow(row), now)


async def _check_session_quota(conn: AsyncConnection, principal: Principal, now: datetime) -> None:
    """maxSessions counts live sessions; the organisation row lock makes the count race-free."""
    await conn.execute(
        sa.select(organizations.c.id)
        .where(organizations.c.id == principal.organization_id)
        .with_for_update()
    )
    live = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(sessions)
        .where(
            _scoped(principal),
            sessions.c.status.in_(status_rules.LIVE),
            sessions.c.expires_at > now,
        )
    )
    limit = principal.plan.max_sessions
    if (live or 0) >= limit:
        raise LimitExceeded(
            f"the organisation already has {live} live sessions and its plan's maxSessions "
            f"is {limit}; finish, cancel or delete one first"
        )


async def find_session(db: Database, principal: Principal, session_id: str) -> SessionRecord | None:
    if not is_well_formed(session_id, SESSION_PREFIX):
        return None
    async with db.read() as conn:
        return await _find(conn, principal, session_id)


async def _find(
    conn: AsyncConnection, principal: Principal, session_id: str, *, lock: bool = False
) -> SessionRecord | None:
    query = sa.select(sessions).where(sessions.c.id == session_id, _scoped(principal))
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return SessionRecord.from_row(row, clock.now()) if row is not None else None


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
    now = clock.now()
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(sessions).where(sessions.c.id.in_(wanted), _scoped(principal))
        )
        return {row.id: SessionRecord.from_row(row, now) for row in rows}


def _filters(
    principal: Principal, statuses: Iterable[str] | None, user_id: str | None, now: datetime
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [_scoped(principal)]
    if statuses is not None:
        conditions.append(_status_condition(statuses, now))
    if user_id is not None:
        conditions.append(sessions.c.user_id == validation.free_of_nul(user_id, "userId"))
    return conditions


async def list_sessions(
    db: Database,
    principal: Principal,
    *,
    limit: int = 20,
    after: str | None = None,
    statuses: Iterable[str] | None = None,
    user_id: str | None = None,
    newest_first: bool = True,
    cursor_field: str = "after",
    limit_field: str = "first",
) -> SessionPage:
    """Keyset-paginated by (createdAt, id); filters on the status readers see and the creator."""
    check_page_size(limit, limit_field)
    now = clock.now()
    cursor = decode_session_cursor(after, field=cursor_field) if after is not None else None
    if user_id is not None:
        validation.free_of_nul(user_id, "userId")
    conditions = _filters(principal, statuses, user_id, now)
    if cursor is not None:
        key = sa.tuple_(sessions.c.created_at, sessions.c.id)
        conditions.append(key < sa.tuple_(*cursor) if newest_first else key > sa.tuple_(*cursor))
    order = (
        (sessions.c.created_at.desc(), sessions.c.id.desc())
        if newest_first
        else (sessions.c.created_at.asc(), sessions.c.id.asc())
    )
    query = sa.select(sessions).where(*conditions).order_by(*order).limit(limit + 1)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    items = [SessionRecord.from_row(row, now) for row in rows[:limit]]
    return SessionPage(items=items, has_more=len(rows) > limit)


async def count_sessions(
    db: Database,
    principal: Principal,
    *,
    statuses: Iterable[str] | None = None,
    user_id: str | None = None,
) -> int:
    """The size of a filtered list; a separate statement, run only when a client asks."""
    conditions = _filters(principal, statuses, user_id, clock.now())
    async with db.read() as conn:
        total = await conn.scalar(
            sa.select(sa.func.count()).select_from(sessions).where(*conditions)
        )
    return int(total or 0)


async def update_session(
    db: Database,
    principal: Principal,
    session_id: str,
    changes: Mapping[str, Any],
    *,
    if_match: str | Collection[str] | None = None,
) -> SessionRecord:
    """Apply a partial update under the session's row lock: status machine, hash, revision.

    `if_match` is an ETag, or several (any one of them matching is enough).
    """
    now = clock.now()
    values = _clean(changes, now, creating=False)
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    async with db.write() as conn:
        current = await _find(conn, principal, session_id, lock=True)
        if current is None:
            raise NotFound(f"session {session_id} not found")
        wanted = {if_match} if isinstance(if_match, str) else if_match
        if wanted is not None and current.etag not in wanted:
            raise PreconditionFailed("the session changed since that ETag was issued")
        if current.is_terminal:
            raise Conflict(f"session is {current.status}; a {current.status} session cannot change")
        if "status" in values:
            status_rules.check_transition(current.status, values["status"])
        if not values:
            return current
        values["updated_at"] = now
        values["revision"] = sessions.c.revision + 1
        row = (
            await conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id)
                .values(values)
                .returning(*sessions.c)
            )
        ).one()
    db.bus.publish(Hint("updated", session_id, row.organization_id))
    return SessionRecord.from_row(row, now)


async def delete_session(db: Database, principal: Principal, session_id: str) -> str:
    """Remove the session and its whole log."""
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise NotFound(f"session {session_id} not found")
    async with db.write() as conn:
        found = await conn.execute(
            sa.select(sessions.c.id)
            .where(sessions.c.id == session_id, _scoped(principal))
            .with_for_update()
        )
        if found.first() is None:
            raise NotFound(f"session {session_id} not found")
        await conn.execute(events.delete().where(events.c.session_id == session_id))
        await conn.execute(sessions.delete().where(sessions.c.id == session_id))
        await tombstones.bury(conn, [(session_id, principal.organization_id)], clock.now())
    db.bus.publish(Hint("deleted", session_id, principal.organization_id))
    return session_id
