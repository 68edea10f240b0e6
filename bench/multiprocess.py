"""`python -m bench multiprocess`: several `sessiongraph serve` processes on one PostgreSQL.

Per bus (`postgres` LISTEN/NOTIFY, `redis`, `nats`): a fresh database, optionally behind a
PgBouncer in transaction mode (`--pgbouncer auto` uses it when installed; LISTEN then goes
direct); `--processes` servers (default 4) each started with `python -m graph serve`;
`--subscribers` graphql-transport-ws connections (default 1,000), each with one
`sessionEvents` subscription, subscriber i on session i mod S and on process (i div S)
mod P, so every session has subscribers on every process; then a fixed number of appends
(`--rate` per second for `--duration` seconds, open loop, at most `--in-flight` at once),
append k to process k mod P and session k mod S, alternating GraphQL `appendEvent` and
REST `POST …/events` per round of processes. Each append carries its send time
(`time.time_ns()`) in its message; each subscriber takes its receive time, so latency is
append sent to event received, client decoding included.

Reported per bus: appends per second (successful appends over the time from the first send
to the last answer) and their own answer time p50/p99; append-to-delivery p50/p99/max;
the same from the event's `createdAt` (taken by the server just before its insert, to the
millisecond: commit, hint, read and fan-out without the request's own queueing); events
delivered vs expected per subscriber (expected: every event its session holds after the
warm-up one, read at the end; lost and repeated counted from each subscriber's sequence
numbers); the peak of `pg_stat_activity` rows for the bench database (sampled every 50 ms
from before the servers start to after they stop); each process's CPU share during the
appends; each server's resident memory idle and with its subscribers connected. The same
goes to JSON (`--json`).

Only 127.0.0.1 is contacted; every wait is bounded (start 60 s, drain `--drain-timeout`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect

from bench import pgbouncer
from bench.dataset import BENCH_PLAN
from bench.run import DEFAULT_POSTGRES
from bench.workloads import REST_PREFIX

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REDIS = os.environ.get("SESSIONGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEFAULT_NATS = os.environ.get("SESSIONGRAPH_TEST_NATS_URL", "nats://127.0.0.1:4222")
BUSES = ("postgres", "redis", "nats")
FULL = {"processes": 4, "subscribers": 1_000, "sessions": 50, "duration": 10.0, "rate": 50.0}
QUICK = {"processes": 2, "subscribers": 40, "sessions": 10, "duration": 2.0, "rate": 50.0}

EVENTS = "subscription($s: ID!) { sessionEvents(sessionId: $s) { sequence message createdAt } }"
APPEND = (
    "mutation($s: ID!, $m: String!) { appendEvent(sessionId: $s,"
    ' input: {type: INFO, stage: "generating", message: $m}) { sequence } }'
)
CREATE = "mutation { createSession(input: {}) { id } }"
WARM = "warm"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench multiprocess", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 processes, 40 subscribers, 2 s")
    parser.add_argument("--processes", type=int, help="server processes (default 4, quick 2)")
    parser.add_argument("--subscribers", type=int, help="WebSockets (default 1000, quick 40)")
    parser.add_argument("--sessions", type=int, help="sessions subscribed to (default 50)")
    parser.add_argument("--duration", type=float, help="seconds of appends (default 10)")
    parser.add_argument("--rate", type=float, help="appends per second, all writers together")
    parser.add_argument("--in-flight", type=int, default=32, help="appends awaiting an answer")
    parser.add_argument("--buses", default=",".join(BUSES), help="comma-separated")
    parser.add_argument(
        "--pgbouncer",
        choices=("auto", "on", "off"),
        default="auto",
        help="servers reach PostgreSQL through a PgBouncer in transaction mode "
        "(auto: when pgbouncer is installed)",
    )
    parser.add_argument("--pool-size", type=int, default=20, help="PgBouncer's default_pool_size")
    parser.add_argument(
        "--db-max-connections", type=int, help="SESSIONGRAPH_DB_MAX_CONNECTIONS per process"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--nats-url", default=DEFAULT_NATS)
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to wait")
    parser.add_argument("--json", default="bench/results/multiprocess.json")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard one: a thousand sockets need more than 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class ServerProcess:
    index: int
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@asynccontextmanager
async def servers(count: int, env: dict[str, str], directory: Path) -> AsyncIterator[list[Any]]:
    started: list[ServerProcess] = []
    try:
        for index in range(count):
            port = free_port()
            log = directory / f"server-{index}.log"
            with log.open("wb") as sink:
                process = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "graph", "serve", "--port", str(port)),
                    env={**os.environ, **env},
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=sink,
                )
            started.append(ServerProcess(index, port, process, log))
        async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(60):
            for server in started:
                while True:
                    if server.process.returncode is not None:
                        tail = server.log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"server {server.index} exited while starting: {tail}")
                    with contextlib.suppress(httpx.TransportError):
                        answer = await http.get(server.base + "/readyz")
                        if answer.status_code == 200 and answer.json().get("bus") == "ok":
                            break
                    await asyncio.sleep(0.1)
        yield started
    finally:
        for server in started:
            if server.process.returncode is None:
                server.process.terminate()
        for server in started:
            try:
                async with asyncio.timeout(15):
                    await server.process.wait()
            except TimeoutError:
                server.process.kill()
                await server.process.wait()


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[tuple[str, str]]:
    """A new database on `admin_url`'s server: (its name, its direct URL); dropped after."""
    name = "sessiongraph_bench_mp_" + secrets.token_hex(4)
    admin = await asyncpg.connect(_plain(admin_url), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_plain(admin_url), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def prepare(url: str) -> str:
    """Migrate the fresh database; a key whose plan never throttles the run."""
    from db.keys import create_key
    from db.store.engine import Database
    from db.store.migrate import upgrade_to_head

    db = Database(url)
    try:
        await upgrade_to_head(db)
        _, key = await create_key(db, "org_bench_multiprocess", "user_bench", plan=BENCH_PLAN)
    finally:
        await db.dispose()
    return key


class ConnectionSampler:
    """The peak number of `pg_stat_activity` rows for one database, every `interval` s."""

    def __init__(self, admin_url: str, database: str, interval: float = 0.05) -> None:
        self.admin_url, self.database, self.interval = admin_url, database, interval
        self.peak = 0
        self.peak_by_application: dict[str, int] = {}
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self, conn: asyncpg.Connection) -> None:
        while True:
            rows = await conn.fetch(
                "SELECT coalesce(application_name, '') AS app, count(*) AS n"
                " FROM pg_stat_activity WHERE datname = $1 GROUP BY 1",
                self.database,
            )
            total = sum(r["n"] for r in rows)
            self.samples += 1
            if total > self.peak:
                self.peak = total
                self.peak_by_application = {r["app"] or "(none)": r["n"] for r in rows}
            await asyncio.sleep(self.interval)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ConnectionSampler]:
        conn = await asyncpg.connect(_plain(self.admin_url), timeout=5)
        self._task = asyncio.create_task(self._run(conn))
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await conn.close()


# --- clients ---------------------------------------------------------------------------


@dataclass
class Subscriber:
    conn: ClientConnection
    session: str
    last: int = 0
    delivered: int = 0
    repeated: int = 0
    gaps: int = 0
    measuring: bool = False
    latencies_ns: list[int] = field(default_factory=list)
    from_created_ns: list[int] = field(default_factory=list)
    error: str | None = None

    async def listen(self) -> None:
        try:
            async for raw in self.conn:
                now = time.time_ns()
                message = orjson.loads(raw)
                if message.get("type") != "next":
                    if message.get("type") in ("error", "complete"):
                        self.error = str(message)[:300]
                    continue
                event = message["payload"]["data"]["sessionEvents"]
                sequence = event["sequence"]
                if sequence <= self.last:
                    self.repeated += 1
                elif sequence > self.last + 1:
                    self.gaps += 1
                self.last = max(self.last, sequence)
                text = event["message"]
                if self.measuring and text != WARM:
                    self.delivered += 1
                    self.latencies_ns.append(now - int(text[1:]))
                    created = datetime.fromisoformat(event["createdAt"])
                    self.from_created_ns.append(now - int(created.timestamp() * 1e9))
        except Exception as error:  # reported; the run decides what it means
            self.error = f"{type(error).__name__}: {error}"


async def subscribe(url: str, key: str, session: str) -> Subscriber:
    conn = await connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=60,
        max_queue=None,
        compression=None,
    )
    await conn.send(
        orjson.dumps({"type": "connection_init", "payload": {"Authorization": key}}).decode()
    )
    ack = orjson.loads(await asyncio.wait_for(conn.recv(), 30))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    payload = {"query": EVENTS, "variables": {"s": session}}
    await conn.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode())
    return Subscriber(conn, session)


@dataclass
class Writers:
    clients: list[httpx.AsyncClient]
    key: str
    sessions: list[str]
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    graphql: int = 0
    rest: int = 0

    async def append(self, k: int, message: str) -> None:
        client = self.clients[k % len(self.clients)]
        session = self.sessions[k % len(self.sessions)]
        headers = {"Authorization": f"Bearer {self.key}"}
        sent = time.time_ns()
        if message != WARM:
            message = f"t{sent}"
        try:
            if (k // len(self.clients)) % 2 == 0:
                self.graphql += 1
                answer = await client.post(
                    "/graphql",
                    content=orjson.dumps(
                        {"query": APPEND, "variables": {"s": session, "m": message}}
                    ),
                    headers={**headers, "Content-Type": "application/json"},
                )
                body = answer.json()
                good = answer.status_code == 200 and not body.get("errors")
            else:
                self.rest += 1
                answer = await client.post(
                    f"{REST_PREFIX}/{session}/events",
                    content=orjson.dumps(
                        {"type": "info", "stage": "generating", "message": message}
                    ),
                    headers={**headers, "Content-Type": "application/json"},
                )
                good = answer.status_code == 201
        except httpx.HTTPError as error:
            self.failures.append(f"{type(error).__name__}: {error}")
            return
        if good:
            self.ok += 1
            self.latencies_ns.append(time.time_ns() - sent)
        else:
            self.failures.append(f"{answer.status_code}: {answer.text[:200]}")


async def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.01)


def percentile(ordered: list[int], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1e6


# --- one bus ---------------------------------------------------------------------------


def bus_url(bus: str, args: argparse.Namespace) -> str:
    urls: dict[str, str] = {"postgres": "postgres", "redis": args.redis_url, "nats": args.nats_url}
    return urls[bus]


def reachable(url: str) -> str | None:
    """None when a TCP connection to the broker's host and port opens, else why not."""
    parsed = make_url(url.replace("nats://", "nats+x://", 1)) if "://" in url else None
    if parsed is None:
        return None
    default = 6379 if url.startswith("redis") else 4222
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or default), 3):
            return None
    except OSError as error:
        return f"{url} is unreachable: {error}"


async def run_bus(
    bus: str, args: argparse.Namespace, bouncer: pgbouncer.Bouncer | None
) -> dict[str, Any]:
    if bus != "postgres":
        problem = reachable(bus_url(bus, args))
        if problem:
            return {"bus": bus, "skipped": problem}
    processes = args.processes
    async with fresh_database(args.postgres_url) as (name, direct):
        key = await prepare(direct)
        env = {
            "SESSIONGRAPH_DATABASE_URL": bouncer.through(direct) if bouncer else direct,
            "SESSIONGRAPH_BUS_URL": bus_url(bus, args),
            "SESSIONGRAPH_AUTO_MIGRATE": "false",
            "SESSIONGRAPH_ENV": "production",
            "SESSIONGRAPH_LOG_LEVEL": "warning",
            "SESSIONGRAPH_ACCESS_LOG": "false",
        }
        if bouncer is not None:
            env["SESSIONGRAPH_LISTEN_DATABASE_URL"] = direct
        if args.db_max_connections:
            env["SESSIONGRAPH_DB_MAX_CONNECTIONS"] = str(args.db_max_connections)
        sampler = ConnectionSampler(args.postgres_url, name)
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                sampler.running(),
                servers(processes, env, Path(tmp)) as running,
                contextlib.AsyncExitStack() as stack,
            ):
                started_peak = sampler.peak
                result = await measure(bus, args, key, running, stack)
            result["pg_connections_peak"] = sampler.peak
            result["pg_connections_peak_by_application"] = sampler.peak_by_application
            result["pg_connections_peak_at_start"] = started_peak
            result["pg_connections_samples"] = sampler.samples
        result["pgbouncer"] = bouncer is not None
        if bouncer is not None:
            result["pgbouncer_pool_size"] = bouncer.pool_size
    return result


async def measure(
    bus: str,
    args: argparse.Namespace,
    key: str,
    running: list[ServerProcess],
    stack: contextlib.AsyncExitStack,
) -> dict[str, Any]:
    processes, count = len(running), args.subscribers
    clients = [
        await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=s.base,
                timeout=30,
                # Below the server's keep-alive (5 s): never reuse a connection it is closing.
                limits=httpx.Limits(max_connections=args.in_flight, keepalive_expiry=2),
            )
        )
        for s in running
    ]
    headers = {"Authorization": f"Bearer {key}"}
    sessions: list[str] = []
    for i in range(args.sessions):
        answer = await clients[i % processes].post(
            "/graphql", json={"query": CREATE}, headers=headers
        )
        sessions.append(answer.json()["data"]["createSession"]["id"])
    await asyncio.sleep(1)
    rss_idle = [rss_kib(s.process.pid) for s in running]

    print(f"[{bus}] connecting {count} subscribers ...", flush=True)
    subscribers: list[Subscriber] = []
    plan = [
        (running[(i // args.sessions) % processes].ws, sessions[i % args.sessions])
        for i in range(count)
    ]
    for start in range(0, count, 50):
        subscribers += await asyncio.gather(
            *(subscribe(url, key, session) for url, session in plan[start : start + 50])
        )
    tasks = [asyncio.create_task(s.listen()) for s in subscribers]

    async def close_all() -> None:
        await asyncio.gather(*(s.conn.close() for s in subscribers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(close_all)

    writers = Writers(clients, key, sessions)
    # One warm-up event per session: proves every subscription is live before timing.
    await asyncio.gather(*(writers.append(i, WARM) for i in range(len(sessions))))
    if writers.failures:
        raise RuntimeError(f"warm-up appends failed: {writers.failures[:3]}")
    await wait_for(lambda: all(s.last >= 1 or s.error for s in subscribers), 60, "warm-up delivery")
    broken = [s.error for s in subscribers if s.error]
    if broken:
        raise RuntimeError(f"{len(broken)} subscriptions failed: {broken[:3]}")
    await asyncio.sleep(1)
    rss_subscribed = [rss_kib(s.process.pid) for s in running]
    for s in subscribers:
        s.measuring = True
    writers.ok = writers.graphql = writers.rest = 0
    writers.latencies_ns.clear()

    total = round(args.rate * args.duration)
    print(f"[{bus}] {total} appends at {args.rate:g}/s over {processes} processes ...", flush=True)
    gate = asyncio.Semaphore(args.in_flight)
    pending: set[asyncio.Task[None]] = set()

    async def one(k: int) -> None:
        try:
            await writers.append(k, "")
        finally:
            gate.release()

    load_before = os.getloadavg()[0]
    server_cpu = [cpu_seconds(s.process.pid) for s in running]
    client_cpu = own_cpu_seconds()
    started = time.perf_counter()
    for k in range(total):
        delay = started + k / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        task = asyncio.create_task(one(len(sessions) + k))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - started

    expected_last = await last_sequences(clients[0], key, sessions)
    try:
        await wait_for(
            lambda: all(s.last >= expected_last[s.session] or s.error for s in subscribers),
            args.drain_timeout,
            "delivery of every event",
        )
        drained = True
    except TimeoutError:
        drained = False
    drain = time.perf_counter() - started - elapsed
    server_cpu = [cpu_seconds(s.process.pid) - c for s, c in zip(running, server_cpu, strict=True)]
    client_cpu = own_cpu_seconds() - client_cpu
    busy = elapsed + drain
    await asyncio.sleep(0.5)  # anything sent twice arrives within this too

    latencies = sorted(x for s in subscribers for x in s.latencies_ns)
    from_created = sorted(x for s in subscribers for x in s.from_created_ns)
    expected = sum(expected_last[s.session] - 1 for s in subscribers)
    delivered = sum(s.delivered for s in subscribers)
    repeated = sum(s.repeated for s in subscribers)
    idle_kib = statistics.mean(rss_idle)
    subscribed_kib = statistics.mean(rss_subscribed)
    return {
        "bus": bus,
        "processes": processes,
        "subscribers": count,
        "sessions": len(sessions),
        "appends": writers.ok,
        "appends_graphql": writers.graphql,
        "appends_rest": writers.rest,
        "append_failures": len(writers.failures),
        "append_failure_samples": writers.failures[:5],
        "appends_per_second": round(writers.ok / elapsed, 1),
        "target_rate": args.rate,
        "append_p50_ms": round(percentile(sorted(writers.latencies_ns), 0.50), 2),
        "append_p99_ms": round(percentile(sorted(writers.latencies_ns), 0.99), 2),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1] / 1e6, 2) if latencies else None,
        "from_created_p50_ms": round(percentile(from_created, 0.50), 2),
        "from_created_p99_ms": round(percentile(from_created, 0.99), 2),
        "delivered": delivered,
        "expected": expected,
        "lost": expected - (delivered - repeated),
        "repeated": repeated,
        "gaps": sum(s.gaps for s in subscribers),
        "subscriber_errors": [s.error for s in subscribers if s.error][:5],
        "drained": drained,
        "drain_s": round(drain, 2),
        "server_cpu_per_process": [round(c / busy, 2) for c in server_cpu],
        "client_cpu": round(client_cpu / busy, 2),
        "load_average_before": round(load_before, 2),
        "rss_idle_mib": round(idle_kib / 1024, 1),
        "rss_subscribed_mib": round(subscribed_kib / 1024, 1),
        "kib_per_subscription": round((sum(rss_subscribed) - sum(rss_idle)) / max(1, count), 1),
    }


async def last_sequences(
    client: httpx.AsyncClient, key: str, sessions: list[str]
) -> dict[str, int]:
    """What each session holds now: `eventCount` (sequences start at 1, no gaps)."""
    last: dict[str, int] = {}
    for session in sessions:
        answer = await client.post(
            "/graphql",
            json={
                "query": "query($s: ID!) { session(id: $s) { eventCount } }",
                "variables": {"s": session},
            },
            headers={"Authorization": f"Bearer {key}"},
        )
        last[session] = answer.json()["data"]["session"]["eventCount"]
    return last


# --- the run ---------------------------------------------------------------------------


@contextmanager
def maybe_bouncer(args: argparse.Namespace) -> Iterator[pgbouncer.Bouncer | None]:
    if args.pgbouncer == "off" or (args.pgbouncer == "auto" and pgbouncer.binary() is None):
        yield None
        return
    with pgbouncer.running(args.postgres_url, pool_size=args.pool_size) as bouncer:
        yield bouncer


def format_row(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"{r['bus']:<9} skipped: {r['skipped']}"
    exact = "exact" if r["lost"] == 0 and r["repeated"] == 0 else "NOT EXACT"
    return (
        f"{r['bus']:<9} {r['appends_per_second']:>9.1f} {r['append_p99_ms']:>9.1f}"
        f" {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
        f" {r['delivered']:>10,}/{r['expected']:<10,} {exact:<9} {r['pg_connections_peak']:>8}"
        f" {r['rss_idle_mib']:>8.1f} {r['rss_subscribed_mib']:>8.1f}"
        + (f"  append failures {r['append_failures']}" if r["append_failures"] else "")
    )


HEADER = (
    f"{'bus':<9} {'appends/s':>9} {'append99':>9} {'p50 ms':>8} {'p99 ms':>8}"
    f" {'delivered/expected':>21}"
    f" {'':<9} {'pg conns':>8} {'RSS idle':>8} {'RSS subs':>8}"
)


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds the `with` blocks: servers stopped, databases dropped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    nofile = raise_fd_limit()
    report: dict[str, Any] = {
        "mode": "multiprocess",
        "processes": args.processes,
        "subscribers": args.subscribers,
        "sessions": args.sessions,
        "duration_s": args.duration,
        "rate": args.rate,
        "in_flight": args.in_flight,
        "rlimit_nofile": nofile,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": [],
    }
    with contextlib.ExitStack() as stack:
        try:
            bouncer = stack.enter_context(maybe_bouncer(args))
        except OSError as error:
            if args.pgbouncer == "on":
                raise
            print(f"PgBouncer unavailable, servers connect directly: {error}", flush=True)
            bouncer = None
        report["pgbouncer"] = bouncer is not None
        for bus in [b.strip() for b in args.buses.split(",") if b.strip()]:
            try:
                result = run(bus, args, bouncer)
            except (OSError, asyncpg.PostgresError) as error:
                result = {"bus": bus, "skipped": f"{type(error).__name__}: {error}"}
            report["results"].append(result)
            print(format_row(result), flush=True)
    print()
    via = f"through PgBouncer (pool {args.pool_size})" if report["pgbouncer"] else "direct"
    print(
        f"== {args.processes} processes, {args.subscribers} subscribers on {args.sessions}"
        f" sessions, {args.rate:g} appends/s for {args.duration:g} s, PostgreSQL {via} =="
    )
    print(HEADER)
    for result in report["results"]:
        print(format_row(result))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {path}")
    return 0


def run(bus: str, args: argparse.Namespace, bouncer: pgbouncer.Bouncer | None) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(run_bus(bus, args, bouncer))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run_bus(bus, args, bouncer))
