"""A process's PostgreSQL connections stay within SESSIONGRAPH_DB_MAX_CONNECTIONS, and many
processes behind one PgBouncer (transaction mode) stay within what the bouncer may open."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from db.store.engine import DEFAULT_MAX_CONNECTIONS, ConnectionBudget, Database
from graph.app import create_app
from graph.settings import Settings
from tests.conftest import new_key
from tests.support.databases import (
    POSTGRES_ADMIN_URL,
    REQUIRE_POSTGRES,
    PostgresUnavailable,
    fresh_postgres_database,
    migrate,
)
from tests.support.pgbouncer import PgBouncer, PgBouncerUnavailable, running_pgbouncer
from tests.support.processes import free_port
from tests.support.server import running_server
from tests.support.ws import EVENTS, socket

pytestmark = pytest.mark.timeout(300)

APPEND = "mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO}) { sequence } }"
READ = "query($s: ID!) { session(id: $s) { id eventCount events(first: 5) { totalCount } } }"
CREATE = "mutation { createSession(input: {status: GENERATING}) { id } }"


def test_the_budget_is_split_without_remainder() -> None:
    for total in range(3, 64):
        budget = ConnectionBudget.split(total)
        assert budget.orm + budget.raw + budget.listen == total
        assert budget.listen == 1 and budget.orm >= budget.raw >= 1
    assert ConnectionBudget.split(DEFAULT_MAX_CONNECTIONS) == ConnectionBudget(20, 10, 9, 1)
    assert ConnectionBudget.split(2, listen=0) == ConnectionBudget(2, 1, 1, 0)
    with pytest.raises(ValueError, match="too small"):
        ConnectionBudget.split(2)


def test_settings_give_the_budget_and_keep_the_old_pool_size() -> None:
    assert Settings(_env_file=None).db_connection_budget == 20  # type: ignore[call-arg]
    assert Settings(db_max_connections=7).db_connection_budget == 7
    # The deprecated knob opened a pool of N on each driver, plus LISTEN.
    assert Settings(db_pool_size=4).db_connection_budget == 9
    assert Settings(db_pool_size=4, db_max_connections=12).db_connection_budget == 12


def _metric(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(f"{name}{{{selector}}}" if labels else name) + r" ([0-9.e+-]+)"
    found = re.search(rf"^{pattern}$", text, re.MULTILINE)
    assert found, f"{name} {labels} not in /metrics"
    return float(found.group(1))


async def test_pools_are_sized_by_the_budget_and_metrics_show_them(postgres_url: str) -> None:
    db = Database(postgres_url, max_connections=7)
    assert db.budget == ConnectionBudget(7, 3, 3, 1)
    try:
        _, key = await new_key(db)
        app = create_app(Settings(database_url=postgres_url, auto_migrate=False), database=db)
        async with running_server(app) as base, httpx.AsyncClient(base_url=base) as http:
            headers = {"Authorization": f"Bearer {key}"}
            created = await http.post("/graphql", json={"query": CREATE}, headers=headers)
            session_id = created.json()["data"]["createSession"]["id"]
            # More concurrent requests than connections: they wait for one, none fails.
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/graphql",
                        json={"query": READ if i % 2 else APPEND, "variables": {"s": session_id}},
                        headers=headers,
                    )
                    for i in range(40)
                )
            )
            assert all(a.status_code == 200 and "errors" not in a.json() for a in answers)
            pool = db.engine.pool
            assert pool.size() == 3  # type: ignore[attr-defined]
            in_use, idle = db.connections()["raw"]
            assert db.lean.pool_size == 3 and in_use + idle <= 3
            text = (await http.get("/metrics")).text
        most = {p: _metric(text, "sessiongraph_db_connections_max", pool=p) for p in POOLS}
        assert most == {"orm": 3, "raw": 3, "listen": 1} and sum(most.values()) == 7
        for p in POOLS:
            open_now = sum(
                _metric(text, "sessiongraph_db_connections", pool=p, state=s)
                for s in ("in_use", "idle")
            )
            assert 1 <= open_now <= most[p], (p, open_now)
        # The /metrics request itself holds no database connection.
        assert _metric(text, "sessiongraph_db_connections", pool="listen", state="in_use") == 1
    finally:
        await db.dispose()


POOLS = ("orm", "raw", "listen")

# -- Eight processes, one PgBouncer, one database -------------------------------------------

SERVERS = 8
SESSIONS = 4
EVENTS_PER_SESSION = 12
READS = 120
BOUNCER_POOL = 20  # server connections PgBouncer may open to the database
LIMIT = 30  # PostgreSQL server connections allowed in use at any time


class Server:
    """`sessiongraph serve` with its stderr kept, so a connection error cannot go unseen."""

    def __init__(self, url: str, listen_url: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graph", "serve", "--port", str(self.port)],
            env={
                **os.environ,
                "SESSIONGRAPH_DATABASE_URL": url,
                "SESSIONGRAPH_LISTEN_DATABASE_URL": listen_url,
                "SESSIONGRAPH_AUTO_MIGRATE": "false",
                "SESSIONGRAPH_LOG_LEVEL": "warning",
                "SESSIONGRAPH_ACCESS_LOG": "false",
            },
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()


@pytest.fixture(scope="module")
def bounced() -> Iterator[tuple[PgBouncer, str, str]]:
    """A fresh database, and a PgBouncer that opens at most BOUNCER_POOL connections to it."""
    try:
        with (
            fresh_postgres_database() as direct,
            running_pgbouncer(
                POSTGRES_ADMIN_URL,
                default_pool_size=BOUNCER_POOL,
                max_db_connections=BOUNCER_POOL,
            ) as bouncer,
        ):
            migrate(direct)
            yield bouncer, bouncer.through(direct), direct
    except (PostgresUnavailable, PgBouncerUnavailable) as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL and PgBouncer are required: {error}")
        pytest.skip(str(error))


@asynccontextmanager
async def sampling(direct: str) -> AsyncIterator[list[tuple[int, int]]]:
    """(connected, active) client backends on the database, every 20 ms, not counting ours."""
    samples: list[tuple[int, int]] = []
    conn = await asyncpg.connect(direct)
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
            samples.append((row[0], row[1]))
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        stop.set()
        await task
        await conn.close()


async def _ready(http: httpx.AsyncClient, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{http.base_url} never became ready")


async def test_eight_processes_through_one_pgbouncer(
    bounced: tuple[PgBouncer, str, str], tmp_path: Path
) -> None:
    bouncer, url, direct = bounced
    setup = Database(direct)
    try:
        _, key = await new_key(setup)
    finally:
        await setup.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    with ExitStack() as stack:
        servers = []
        for index in range(SERVERS):
            server = Server(url, direct, tmp_path / f"server-{index}.log")
            stack.callback(server.stop)
            servers.append(server)
        async with AsyncClients([s.url for s in servers]) as clients:
            await asyncio.gather(*(_ready(c) for c in clients))
            async with sampling(direct) as samples:
                started = time.monotonic()
                outcome = await _load(clients, [s.url for s in servers], headers)
                elapsed = time.monotonic() - started
            metrics = [(await c.get("/metrics")).text for c in clients]
        for server in servers:
            server.stop()
        logs = {s.log.name: s.log.read_text(errors="replace") for s in servers}
    connected = max(s[0] for s in samples)
    active = max(s[1] for s in samples)
    print(
        f"\n{SERVERS} processes through PgBouncer: {outcome['requests']} requests, "
        f"{outcome['delivered']} events delivered to {outcome['subscribers']} subscribers in "
        f"{elapsed:.1f}s; PostgreSQL server connections: at most {connected} open, "
        f"{active} active ({len(samples)} samples)"
    )
    assert len(samples) > 10
    assert connected <= LIMIT, f"{connected} server connections (limit {LIMIT})"
    for name, text in logs.items():
        assert not re.search(
            r"(?i)traceback|too many (clients|connections)|connection.*(refused|reset|closed)"
            r"|prepared statement|error",
            text,
        ), f"{name}:\n{text[-3000:]}"
    assert " ERROR " not in bouncer.log, bouncer.log[-3000:]
    for text in metrics:
        most = sum(_metric(text, "sessiongraph_db_connections_max", pool=p) for p in POOLS)
        assert most == DEFAULT_MAX_CONNECTIONS
        assert _metric(text, "sessiongraph_db_connections", pool="listen", state="in_use") == 1


class AsyncClients:
    def __init__(self, urls: list[str]) -> None:
        self.clients = [
            httpx.AsyncClient(base_url=u, timeout=30, limits=httpx.Limits(max_connections=8))
            for u in urls
        ]

    async def __aenter__(self) -> list[httpx.AsyncClient]:
        return self.clients

    async def __aexit__(self, *_: object) -> None:
        for client in self.clients:
            await client.aclose()


async def _load(
    clients: list[httpx.AsyncClient], urls: list[str], headers: dict[str, str]
) -> dict[str, int]:
    """Sessions made on some processes, watched on every process, appended to and read
    through all of them at once; every subscriber must see 1..EVENTS_PER_SESSION once."""
    requests = 0

    async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, object]) -> dict:  # type: ignore[type-arg]
        nonlocal requests
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        requests += 1
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    sessions = [
        (await gql(clients[i % len(clients)], CREATE, {}))["createSession"]["id"]
        for i in range(SESSIONS)
    ]
    subscribers = 0
    delivered = 0

    async def watch(url: str, session_id: str) -> None:
        nonlocal subscribers, delivered
        async with socket(url) as ws:
            ack = await ws.init(headers["Authorization"].split()[1])
            assert ack["type"] == "connection_ack", ack
            await ws.subscribe("1", EVENTS, {"s": session_id, "a": 0})
            subscribers += 1
            seen: list[int] = []
            while len(seen) < EVENTS_PER_SESSION:
                got, end = await ws.events("1", EVENTS_PER_SESSION - len(seen))
                assert not end, end
                seen.extend(got)
            delivered += len(seen)
            assert seen == list(range(1, EVENTS_PER_SESSION + 1)), seen
            # Nothing more arrives: each event exactly once.
            with pytest.raises(TimeoutError):
                await ws.recv(within=0.5)

    watchers = [
        asyncio.create_task(watch(url, session_id)) for url in urls for session_id in sessions
    ]
    gate = asyncio.Semaphore(48)

    async def bounded(client: httpx.AsyncClient, query: str, variables: dict[str, object]) -> None:
        async with gate:
            await gql(client, query, variables)

    work = [
        bounded(clients[(n + k) % len(clients)], APPEND, {"s": s})
        for n in range(EVENTS_PER_SESSION)
        for k, s in enumerate(sessions)
    ] + [
        bounded(clients[n % len(clients)], READ, {"s": sessions[n % len(sessions)]})
        for n in range(READS)
    ]
    random.Random(16).shuffle(work)
    async with asyncio.timeout(120):
        await asyncio.gather(*work)
        await asyncio.gather(*watchers)
    return {"requests": requests, "subscribers": subscribers, "delivered": delivered}
