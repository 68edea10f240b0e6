"""The floor: what the workloads cost with nothing but Starlette, the raw driver and orjson.

One endpoint per workload, each doing the same work the real server must (the key
lookup, the tenant-scoped reads, the numbered append in one transaction) by hand, and
returning the same JSON. Python cannot serve these requests much faster, so the real
server's throughput is reported as a ratio to this one, measured in the same run.
Under `/json/…` the same app serves the second floor, where the database writes the whole
answer (bench/floor_json.py).

Run: `uvicorn bench.floor:app_factory --factory` with `BENCH_FLOOR_DATABASE_URL` set.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor_json import JsonFloor

SESSION_COLUMNS = (
    "id, organization_id, user_id, status, assembly_state, catalog_version, plan, prd,"
    " product_object, product_object_hash, schema_version, created_at, updated_at,"
    " expires_at, last_sequence"
)
EVENT_COLUMNS = (
    "id, sequence, session_id, organization_id, user_id, type, stage, message, payload, created_at"
)
AUTH = (
    "SELECT k.organization_id, k.user_id FROM api_keys k JOIN organizations o"
    " ON o.id = k.organization_id WHERE k.key_hash = {0} AND k.revoked_at IS NULL"
)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


class Store:
    """The two drivers behind one small interface; `p` is the parameter placeholder style."""

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        raise NotImplementedError

    async def append(
        self, session_id: str, org: str, user: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        raise NotImplementedError

    def stamp(self, value: Any) -> str:
        raise NotImplementedError

    def param(self, index: int) -> str:
        raise NotImplementedError

    def db_time(self, value: datetime) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SqliteStore(Store):
    def __init__(self, path: str) -> None:
        self.path = path
        self.readers: list[Any] = []
        self.writer: Any = None
        self.lock = asyncio.Lock()
        self.turn = itertools.count()

    async def open(self) -> None:
        import aiosqlite

        async def connect() -> Any:
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            for pragma in (
                "journal_mode=WAL",
                "busy_timeout=10000",
                "synchronous=FULL",
                "foreign_keys=ON",
            ):
                await conn.execute(f"PRAGMA {pragma}")
            return conn

        self.readers = [await connect() for _ in range(4)]
        self.writer = await connect()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        conn = self.readers[next(self.turn) % len(self.readers)]
        async with conn.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    def param(self, index: int) -> str:
        return "?"

    def stamp(self, value: Any) -> str:
        return f"{value[:10]}T{value[11:23]}Z"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'

    def db_time(self, value: datetime) -> Any:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def append(
        self, session_id: str, org: str, user: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond - now.microsecond % 1000)
        stored = self.db_time(now)
        async with self.lock:
            conn = self.writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                async with conn.execute(
                    "UPDATE sessions SET last_sequence = last_sequence + 1 WHERE id = ? AND"
                    " organization_id = ? AND status IN ('pending','generating','assembling')"
                    " AND expires_at > ? RETURNING last_sequence",
                    (session_id, org, stored),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    await conn.execute("ROLLBACK")
                    return None
                event = _event(session_id, row[0], org, user, fields, now)
                await conn.execute(
                    f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    _event_values(event, stored),
                )
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return event

    async def close(self) -> None:
        for conn in [*self.readers, self.writer]:
            await conn.close()


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.url, min_size=10, max_size=10)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self.pool.fetch(sql, *args))

    def param(self, index: int) -> str:
        return f"${index}"

    def stamp(self, value: Any) -> str:
        moment: datetime = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def db_time(self, value: datetime) -> Any:
        return value

    async def append(
        self, session_id: str, org: str, user: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond - now.microsecond % 1000)
        async with self.pool.acquire() as conn, conn.transaction():
            sequence = await conn.fetchval(
                "UPDATE sessions SET last_sequence = last_sequence + 1 WHERE id = $1 AND"
                " organization_id = $2 AND status IN ('pending','generating','assembling')"
                " AND expires_at > $3 RETURNING last_sequence",
                session_id,
                org,
                now,
            )
            if sequence is None:
                return None
            event = _event(session_id, sequence, org, user, fields, now)
            await conn.execute(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                *_event_values(event, now),
            )
        return event

    async def close(self) -> None:
        await self.pool.close()


def _event(
    session_id: str, sequence: int, org: str, user: str, fields: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": "evt_" + secrets.token_hex(8),
        "sequence": sequence,
        "sessionId": session_id,
        "organizationId": org,
        "userId": user,
        "type": fields["type"],
        "stage": fields.get("stage"),
        "message": fields.get("message"),
        "payload": fields.get("payload"),
        "createdAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
    }


def _event_values(event: dict[str, Any], stored_time: Any) -> tuple[Any, ...]:
    payload = event["payload"]
    return (
        event["id"],
        event["sequence"],
        event["sessionId"],
        event["organizationId"],
        event["userId"],
        event["type"],
        event["stage"],
        event["message"],
        orjson.dumps(payload).decode() if payload is not None else None,
        stored_time,
    )


def _json(value: Any) -> Any:
    return orjson.loads(value) if value is not None else None


class Floor:
    def __init__(self, store: Store) -> None:
        self.store = store
        p = store.param
        self.auth_sql = AUTH.format(p(1))
        self.session_sql = (
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = {p(1)} AND organization_id = {p(2)}"
        )
        self.events_sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE session_id = {p(1)} AND sequence BETWEEN"
            f" {p(2)} AND {p(3)} ORDER BY sequence"
        )
        self.list_sql = (
            f"SELECT id, status, last_sequence FROM sessions WHERE organization_id = {p(1)}"
            f" ORDER BY created_at DESC, id DESC LIMIT {p(2)}"
        )
        self.page_sql = (
            f"SELECT id, status, created_at FROM sessions WHERE organization_id = {p(1)}"
            " ORDER BY created_at DESC, id DESC LIMIT 101"
        )
        self.page_after_sql = (
            f"SELECT id, status, created_at FROM sessions WHERE organization_id = {p(1)} AND"
            f" (created_at, id) < ({p(2)}, {p(3)})"
            " ORDER BY created_at DESC, id DESC LIMIT 101"
        )

    async def principal(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip()
        rows = await self.store.fetch(self.auth_sql, hashlib.sha256(key.encode()).hexdigest())
        return (rows[0][0], rows[0][1]) if rows else None

    def session_json(self, row: Any, *, graphql: bool) -> dict[str, Any]:
        stamp = self.store.stamp
        return {
            "id": row[0],
            "organizationId": row[1],
            "userId": row[2],
            "status": row[3].upper() if graphql else row[3],
            "assemblyState": _json(row[4]),
            "catalogVersion": row[5],
            "plan": _json(row[6]),
            "prd": _json(row[7]),
            "productObject": _json(row[8]),
            "productObjectHash": row[9],
            "schemaVersion": row[10],
            "createdAt": stamp(row[11]),
            "updatedAt": stamp(row[12]),
            "expiresAt": stamp(row[13]),
        }

    def event_json(self, row: Any, *, graphql: bool) -> dict[str, Any]:
        return {
            "id": row[0],
            "sequence": row[1],
            "sessionId": row[2],
            "organizationId": row[3],
            "userId": row[4],
            "type": row[5].upper() if graphql else row[5],
            "stage": row[6],
            "message": row[7],
            "payload": _json(row[8]),
            "createdAt": self.store.stamp(row[9]),
        }

    async def q1(self, request: Request) -> Response:
        who = await self.principal(request)
        if who is None:
            return json_response({"error": "unauthenticated"}, 401)
        rows = await self.store.fetch(self.session_sql, request.path_params["id"], who[0])
        if not rows:
            return json_response({"data": {"session": None}})
        row = rows[0]
        session = self.session_json(row, graphql=True)
        session["eventCount"] = row[14]
        events = await self.store.fetch(self.events_sql, row[0], 1, min(row[14], 20))
        session["events"] = {"nodes": [self.event_json(e, graphql=True) for e in events]}
        return json_response({"data": {"session": session}})

    async def q2(self, request: Request) -> Response:
        who = await self.principal(request)
        if who is None:
            return json_response({"error": "unauthenticated"}, 401)
        rows = (await self.store.fetch(self.list_sql, who[0], 21))[:20]
        ids = [r[0] for r in rows]
        p = self.store.param
        marks = ", ".join(p(i + 1) for i in range(len(ids)))
        found: dict[str, list[dict[str, Any]]] = {sid: [] for sid in ids}
        if ids:
            events = await self.store.fetch(
                f"SELECT session_id, id, type, message FROM events WHERE session_id IN ({marks})"
                f" AND sequence BETWEEN 1 AND 20 ORDER BY session_id, sequence",
                *ids,
            )
            for e in events:
                found[e[0]].append({"id": e[1], "type": e[2].upper(), "message": e[3]})
        nodes = [
            {"id": r[0], "status": r[1].upper(), "events": {"nodes": found[r[0]]}} for r in rows
        ]
        return json_response({"data": {"sessions": {"nodes": nodes}}})

    async def rest_get(self, request: Request) -> Response:
        who = await self.principal(request)
        if who is None:
            return json_response({"error": {"code": "unauthenticated"}}, 401)
        rows = await self.store.fetch(self.session_sql, request.path_params["id"], who[0])
        if not rows:
            return json_response({"error": {"code": "not_found", "message": "not found"}}, 404)
        row = rows[0]
        session = self.session_json(row, graphql=False)
        events = await self.store.fetch(self.events_sql, row[0], 1, row[14])
        session["events"] = [self.event_json(e, graphql=False) for e in events]
        return json_response(session)

    async def _append(self, request: Request) -> tuple[int, dict[str, Any] | None]:
        who = await self.principal(request)
        if who is None:
            return 401, None
        try:
            fields = orjson.loads(await request.body())
        except ClientDisconnect:
            return 400, None  # the load generator stopped mid-request
        if fields.get("type") not in ("debug", "info", "warning", "error"):
            return 422, None
        event = await self.store.append(request.path_params["id"], who[0], who[1], fields)
        return (201, event) if event is not None else (404, None)

    async def rest_append(self, request: Request) -> Response:
        status, event = await self._append(request)
        return json_response(event if event is not None else {"error": {"code": status}}, status)

    async def graphql_append(self, request: Request) -> Response:
        status, event = await self._append(request)
        if event is None:
            return json_response({"errors": [{"message": str(status)}]}, 200)
        picked = {"id": event["id"], "sequence": event["sequence"], "createdAt": event["createdAt"]}
        return json_response({"data": {"appendEvent": picked}})

    async def page(self, request: Request) -> Response:
        who = await self.principal(request)
        if who is None:
            return json_response({"error": "unauthenticated"}, 401)
        after = request.query_params.get("after")
        if after:
            raw = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
            stamp, last_id = raw.split("|")
            created = self.store.db_time(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
            rows = await self.store.fetch(self.page_after_sql, who[0], created, last_id)
        else:
            rows = await self.store.fetch(self.page_sql, who[0])
        kept = rows[:100]
        nodes = [
            {"id": r[0], "status": r[1].upper(), "createdAt": self.store.stamp(r[2])} for r in kept
        ]
        end = None
        if kept:
            last = kept[-1]
            end = (
                base64.urlsafe_b64encode(f"{nodes[-1]['createdAt']}|{last[0]}".encode())
                .decode()
                .rstrip("=")
            )
        page_info = {"hasNextPage": len(rows) > 100, "endCursor": end}
        return json_response({"data": {"sessions": {"nodes": nodes, "pageInfo": page_info}}})


def create_floor(url: str) -> Starlette:
    store: Store
    if url.startswith("sqlite"):
        store = SqliteStore(url.split("///", 1)[1])
    else:
        store = PostgresStore(url.replace("postgresql+asyncpg://", "postgresql://"))
    floor = Floor(store)
    json_floor = JsonFloor(store, postgres=isinstance(store, PostgresStore))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    handler = Callable[[Request], Awaitable[Response]]
    routes: list[tuple[str, handler, str]] = [
        ("/q1/{id}", floor.q1, "GET"),
        ("/q2", floor.q2, "GET"),
        ("/rest/{id}", floor.rest_get, "GET"),
        ("/rest/{id}/events", floor.rest_append, "POST"),
        ("/append/{id}", floor.graphql_append, "POST"),
        ("/page", floor.page, "GET"),
    ]
    return Starlette(
        routes=[
            *(Route(path, fn, methods=[method]) for path, fn, method in routes),
            *json_floor.routes(),
        ],
        lifespan=lifespan,
    )


def app_factory() -> Starlette:
    return create_floor(os.environ["BENCH_FLOOR_DATABASE_URL"])
