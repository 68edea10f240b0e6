"""Fan-out benchmark: one writer, one session, 1 / 100 / 1,000 WebSocket subscribers.

    python bench/fanout.py [--subscribers 1 100 1000] [--database-url URL]

For each subscriber count it starts a fresh `sessiongraph serve` process (SQLite in a
temporary directory unless --database-url names another database), opens that many
graphql-transport-ws connections, each with one `sessionEvents` subscription, and measures:

- resident memory per idle subscription: the server's RSS with every subscriber connected
  and idle, minus its RSS before they connected, divided by their number;
- append-to-delivery latency p50/p99: from the moment the writer sends `appendEvent` to
  the moment each subscriber has the event, for events sent at a steady 10 per second;
- events/s delivered: a burst of back-to-back appends, deliveries counted over all
  subscribers until the last one has the last event;
- server CPU per delivery: the server process's user+system CPU time over the paced and
  burst phases divided by the deliveries in them (steadier than latency on a shared
  machine; `SESSIONGRAPH_WS_SHARED_WRITES=false` in the environment gives the
  per-subscriber path for comparison).

Clients and server share this machine, so client-side decoding is in the figures too.
Only 127.0.0.1 is contacted; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dataset import BENCH_PLAN  # noqa: E402
from db.keys import create_key  # noqa: E402
from db.store.engine import Database  # noqa: E402
from db.store.migrate import upgrade_to_head  # noqa: E402
from graph.app import tune_collector  # noqa: E402

EVENTS = "subscription($s: ID!) { sessionEvents(sessionId: $s) { sequence } }"
APPEND = "mutation($s: ID!) { appendEvent(sessionId: $s, input: {type: INFO}) { sequence } }"
PACED_EVENTS = 30
PACE_SECONDS = 0.1
BURST_EVENTS = 100


@dataclass
class Figures:
    subscribers: int
    kib_per_idle_subscription: float
    p50_ms: float
    p99_ms: float
    deliveries_per_second: float
    server_cpu_us_per_delivery: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Server:
    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.env = {
            **os.environ,
            "SESSIONGRAPH_DATABASE_URL": database_url,
            "SESSIONGRAPH_LOG_LEVEL": "warning",
            "SESSIONGRAPH_ENV": "production",
        }
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def key(self) -> str:
        """A key of a fresh organisation whose plan never throttles: each subscribe spends
        one request of the per-minute budget, and 1,000 of them would exceed the default."""
        db = Database(self.database_url)
        try:
            await upgrade_to_head(db)
            organization = f"org_bench_fanout_{secrets.token_hex(4)}"
            _, secret = await create_key(db, organization, "user_bench", plan=BENCH_PLAN)
        finally:
            await db.dispose()
        return secret

    async def __aenter__(self) -> Server:
        self.process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "graph", "serve", "--port", str(self.port)),
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(base_url=self.base) as http, asyncio.timeout(60):
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    await asyncio.sleep(0.1)

    async def __aexit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.terminate()
        async with asyncio.timeout(30):
            await self.process.wait()


class Subscriber:
    def __init__(self, conn: ClientConnection, sent: dict[int, float]) -> None:
        self.conn = conn
        self.sent = sent
        self.latencies: list[float] = []
        self.last = 0
        self.changed = asyncio.Event()

    async def listen(self) -> None:
        async for raw in self.conn:
            message = json.loads(raw)
            if message.get("type") != "next":
                continue
            sequence = message["payload"]["data"]["sessionEvents"]["sequence"]
            started = self.sent.get(sequence)
            if started is not None:
                self.latencies.append(time.perf_counter() - started)
            self.last = sequence
            self.changed.set()


async def subscribe(base: str, key: str, session: str, sent: dict[int, float]) -> Subscriber:
    conn = await connect(
        base.replace("http", "ws", 1) + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=60,
        max_queue=None,
    )
    await conn.send(json.dumps({"type": "connection_init", "payload": {"Authorization": key}}))
    assert json.loads(await conn.recv())["type"] == "connection_ack"
    await conn.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": EVENTS, "variables": {"s": session}},
            }
        )
    )
    return Subscriber(conn, sent)


async def wait_all(subscribers: list[Subscriber], sequence: int) -> None:
    async with asyncio.timeout(120):
        while any(s.last < sequence for s in subscribers):  # noqa: ASYNC110 - many producers
            await asyncio.sleep(0.002)


async def measure(count: int, database_url: str) -> Figures:
    server = Server(database_url)
    key = await server.key()
    async with server, httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        headers = {"Authorization": f"Bearer {key}"}
        session = (
            await http.post(
                "/graphql",
                json={"query": "mutation { createSession(input: {}) { id } }"},
                headers=headers,
            )
        ).json()["data"]["createSession"]["id"]
        sequence = 0
        sent: dict[int, float] = {}

        async def append() -> int:
            nonlocal sequence
            sequence += 1
            sent[sequence] = time.perf_counter()
            answer = await http.post(
                "/graphql", json={"query": APPEND, "variables": {"s": session}}, headers=headers
            )
            assert answer.json()["data"]["appendEvent"]["sequence"] == sequence, answer.text
            return sequence

        # Warm the server up with one subscriber, so imports and caches are not counted.
        warm = await subscribe(server.base, key, session, {})
        warm_task = asyncio.create_task(warm.listen())
        await wait_all([warm], await append())
        await asyncio.sleep(1)
        assert server.process is not None
        before = rss_kib(server.process.pid)

        subscribers: list[Subscriber] = []
        for start in range(0, count, 50):
            subscribers += await asyncio.gather(
                *(subscribe(server.base, key, session, sent) for _ in range(min(50, count - start)))
            )
        tasks = [asyncio.create_task(s.listen()) for s in subscribers]
        await wait_all(subscribers, sequence)  # each has replayed the warm-up event
        # The clients' own full collections would show as delivery latency: the server is
        # what is measured, so the client tunes its collector as the server does.
        tune_collector()
        await asyncio.sleep(1)
        idle = rss_kib(server.process.pid)
        for s in subscribers:
            s.latencies.clear()
        cpu_before, first_paced = cpu_seconds(server.process.pid), sequence + 1

        for _ in range(PACED_EVENTS):
            tick = time.perf_counter()
            await append()
            await asyncio.sleep(max(0.0, PACE_SECONDS - (time.perf_counter() - tick)))
        await wait_all(subscribers, sequence)
        latencies = sorted(x for s in subscribers for x in s.latencies)

        first = sequence + 1
        started = time.perf_counter()
        for _ in range(BURST_EVENTS):
            await append()
        await wait_all(subscribers, sequence)
        elapsed = time.perf_counter() - started
        delivered = (sequence - first + 1) * count
        cpu = cpu_seconds(server.process.pid) - cpu_before
        cpu_per_delivery = cpu / ((sequence - first_paced + 1) * count)

        for s in [*subscribers, warm]:
            await s.conn.close()
        for task in [*tasks, warm_task]:
            task.cancel()
    return Figures(
        subscribers=count,
        kib_per_idle_subscription=(idle - before) / count,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
        deliveries_per_second=delivered / elapsed,
        server_cpu_us_per_delivery=cpu_per_delivery * 1e6,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    print(
        "| subscribers | p50 ms | p99 ms | events/s delivered | KiB per idle subscription "
        "| server CPU µs per delivery |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for count in args.subscribers:
        with tempfile.TemporaryDirectory() as directory:
            url = args.database_url or f"sqlite:///{directory}/bench.db"
            figures = await measure(count, url)
        print(
            f"| {figures.subscribers:,} | {figures.p50_ms:.1f} | {figures.p99_ms:.1f} "
            f"| {figures.deliveries_per_second:,.0f} | {figures.kib_per_idle_subscription:.1f} "
            f"| {figures.server_cpu_us_per_delivery:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
