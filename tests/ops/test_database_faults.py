"""A database that cannot serve is a 503 with `Retry-After` in every door's error shape.

Real servers, real databases: a database URL nobody answers on, a SQLite file the
filesystem will not let anyone write (`chattr +i`, which binds root too), a PostgreSQL
database switched to read-only, and PostgreSQL backends terminated under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from db.keys import create_key, set_plan
from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.conftest import unique
from tests.support.databases import POSTGRES_ADMIN_URL, fresh_database, migrate
from tests.support.server import running_server

pytestmark = pytest.mark.timeout(120)

SESSIONS = "/v1/products/generation/sessions"
A_KEY = "sgk_" + "0" * 40
LIST_QUERY = "{ sessions(first: 1) { totalCount } }"
CREATE = "mutation { createSession(input: {}) { id } }"


def stream_path(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/events/stream"


def assert_graphql_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) >= 1
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["retryAfter"] == int(response.headers["retry-after"])


def assert_rest_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "service_unavailable" and error["message"]


async def ask_every_door(http: httpx.AsyncClient, key: str) -> list[httpx.Response]:
    """GraphQL over HTTP, a REST read, a REST write, and the start of an SSE stream."""
    auth = {"Authorization": f"Bearer {key}"}
    return [
        await http.post("/graphql", json={"query": LIST_QUERY}, headers=auth),
        await http.get(SESSIONS, headers=auth),
        await http.post(SESSIONS, json={}, headers=auth),
        await http.get(stream_path("sess_0000000000000000"), headers=auth),
    ]


def assert_every_door_unavailable(answers: list[httpx.Response]) -> None:
    graphql, *rest = answers
    assert_graphql_unavailable(graphql)
    for response in rest:
        assert_rest_unavailable(response)


@contextlib.asynccontextmanager
async def serving(url: str) -> AsyncIterator[httpx.AsyncClient]:
    db = Database(url)
    try:
        app = create_app(Settings(database_url=url, auto_migrate=False), database=db)
        async with (
            running_server(app) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as http,
        ):
            yield http
    finally:
        await db.dispose()


# --- A database nobody answers on ------------------------------------------------------


def _unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return "postgresql://nobody@127.0.0.1:1/none"  # a closed port: connection refused
    return f"sqlite:///{tmp_path}/no/such/folder/sessiongraph.db"  # "unable to open"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_every_door_answers_503_when_the_database_is_unreachable(
    backend: str, tmp_path: Path
) -> None:
    async with serving(_unreachable_url(backend, tmp_path)) as http:
        answers = await ask_every_door(http, A_KEY)
        ready = await http.get("/readyz")
    assert_every_door_unavailable(answers)
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "unavailable", "database": "unreachable"},
    )


# --- A database that answers reads but refuses writes ---------------------------------


async def _key_with_room(url: str) -> str:
    """A key whose organisation may make plenty of requests (so only the database refuses)."""
    db = Database(url)
    try:
        org = unique("org")
        _, secret = await create_key(db, org, unique("user"))
        await set_plan(db, org, max_requests_per_minute=10_000)
        return secret
    finally:
        await db.dispose()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i`: nobody, root included, may open the file for writing."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def read_only_sqlite(url: str) -> Iterator[None]:
    """SQLite opens the file read-only, as for a file without write permission or on a
    read-only mount: reads work, every write fails. A connection held open keeps the
    WAL files, which readers of a WAL database need."""
    path = Path(make_url(url).database or "")
    holder = sqlite3.connect(path)
    try:
        holder.execute("SELECT count(*) FROM api_keys").fetchall()
        with immutable(path):
            yield
    finally:
        holder.close()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(
        make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql").render_as_string(False),
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def read_only_postgres(url: str) -> AsyncIterator[None]:
    """New connections to the database start read-only, as on a standby after failover."""
    name = make_url(url).database
    await _pg_admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        yield
    finally:
        await _pg_admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')


@contextlib.asynccontextmanager
async def read_only(backend: str, url: str) -> AsyncIterator[None]:
    if backend == "postgresql":
        async with read_only_postgres(url):
            yield
    else:
        with read_only_sqlite(url):
            yield


@pytest.fixture(params=["sqlite", "postgresql"])
async def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of this test's own, since the test changes what it allows."""
    manager = fresh_database(request.param, tmp_path)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        await asyncio.to_thread(migrate, url)
        yield url
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def test_a_database_refusing_writes_is_not_ready_and_requests_say_why(
    own_database: str,
) -> None:
    url = own_database
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    key = await _key_with_room(url)
    async with read_only(backend, url), serving(url) as http:
        ready = await http.get("/readyz")
        answers = await ask_every_door(http, key)
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "unavailable", "database": "read_only"},
    )
    assert_every_door_unavailable(answers)
    assert answers[0].json()["errors"][0]["message"].startswith("the database refuses writes")
    assert answers[1].json()["error"]["message"].startswith("the database refuses writes")


async def test_a_writable_database_is_ready_and_serves(own_database: str) -> None:
    """The same set-up without the fault: the probe's write leaves nothing behind."""
    key = await _key_with_room(own_database)
    async with serving(own_database) as http:
        ready = await http.get("/readyz")
        created = await http.post(SESSIONS, json={}, headers={"Authorization": key})
        again = await http.get("/readyz")
    assert ready.status_code == 200 and again.status_code == 200
    assert created.status_code == 201
    db = Database(own_database)
    try:
        async with db.read() as conn:
            from sqlalchemy import text

            probes = await conn.scalar(text("SELECT count(*) FROM rate_windows WHERE minute < 0"))
    finally:
        await db.dispose()
    assert probes == 0


# --- PostgreSQL connections terminated under load --------------------------------------


async def _terminate_backends(database: str) -> int:
    """`pg_terminate_backend` on every connection to `database` but the caller's."""
    conn = await asyncpg.connect(
        make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql").render_as_string(False),
        timeout=5,
    )
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return len(rows)
    finally:
        await conn.close()


def _check_answer(door: str, response: httpx.Response) -> str:
    """Success, or 503 + Retry-After in the door's shape; anything else fails the test."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        door,
        response.status_code,
        response.text,
    )
    body: Any = response.json()
    if response.status_code == 503:
        if door == "graphql":
            assert_graphql_unavailable(response)
        else:
            assert_rest_unavailable(response)
        return "503"
    assert response.status_code in (200, 201), (door, response.status_code, body)
    if door == "graphql" and "errors" in body:
        # An outage met during execution is a field error (GraphQL-over-HTTP keeps 200
        # for a response that has `data`): it must still say what happened.
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"SERVICE_UNAVAILABLE"}, body
        return "field-503"
    return "ok"


async def test_terminated_postgres_connections_never_leak_a_plain_text_500(
    postgres_url: str,
) -> None:
    key = await _key_with_room(postgres_url)
    auth = {"Authorization": f"Bearer {key}"}
    database = make_url(postgres_url).database or ""
    outcomes: list[str] = []
    stop = asyncio.Event()

    async with serving(postgres_url) as http:

        async def client(n: int) -> None:
            while not stop.is_set():
                door = ("graphql", "graphql-write", "rest", "rest-write")[n % 4]
                if door == "graphql":
                    response = await http.post("/graphql", json={"query": LIST_QUERY}, headers=auth)
                elif door == "graphql-write":
                    response = await http.post("/graphql", json={"query": CREATE}, headers=auth)
                elif door == "rest":
                    response = await http.get(SESSIONS, headers=auth)
                else:
                    response = await http.post(SESSIONS, json={}, headers=auth)
                outcomes.append(_check_answer(door.split("-")[0], response))

        async def killer() -> None:
            for _ in range(15):
                await asyncio.sleep(0.1)
                await _terminate_backends(database)
            stop.set()

        async with asyncio.timeout(90):
            await asyncio.gather(killer(), *(client(n) for n in range(8)))
        # Once the killing stops, the server recovers by itself.
        for _ in range(300):  # 30 s at most
            if (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await http.get(SESSIONS, headers=auth)).status_code == 200
    assert len(outcomes) > 50
    assert "ok" in outcomes
