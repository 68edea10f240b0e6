"""What `sessiongraph serve` bounds on the wire: header deadlines and sizes, WebSocket
message size, the open-file limit, and what a client leaving is logged as.

Every test runs the real command in a subprocess, so it checks the configuration `serve`
really uses, not a copy of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from db.keys import create_key
from db.store.engine import Database
from graph.settings import MAX_BODY_BYTES
from tests.conftest import unique
from tests.support.databases import fresh_sqlite_database, migrate
from tests.support.processes import free_port
from tests.support.ws import EVENTS, LEGACY, TRANSPORT, ws_url

pytestmark = pytest.mark.timeout(120)

HEADER_TIMEOUT = 1.0


class Served:
    """A `serve` subprocess whose stderr (the JSON log) is kept in a file."""

    def __init__(
        self, url: str, log: Path, env: dict[str, str] | None = None, **preexec: Any
    ) -> None:
        self.port = free_port()
        self.log = log
        env = {
            **os.environ,
            "SESSIONGRAPH_DATABASE_URL": url,
            "SESSIONGRAPH_AUTO_MIGRATE": "false",
            "SESSIONGRAPH_LOG_LEVEL": "info",
            "SESSIONGRAPH_ACCESS_LOG": "false",
            "SESSIONGRAPH_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            **(env or {}),
        }
        self.stderr = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graph", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            **preexec,
        )
        self._wait_until_up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise TimeoutError("server did not start")

    def stop(self) -> list[dict[str, Any]]:
        """Stop the server; its log records."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.stderr.close()
        records = []
        for line in self.log.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"level": "RAW", "message": line})
        return records


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A migrated SQLite file and a key for it."""
    with fresh_sqlite_database(tmp_path_factory.mktemp("limits")) as url:
        migrate(url)

        async def key() -> str:
            db = Database(url)
            try:
                return (await create_key(db, unique("org"), unique("user")))[1]
            finally:
                await db.dispose()

        yield url, asyncio.run(key())


@pytest.fixture(scope="module")
def served(database: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(database[0], tmp_path_factory.mktemp("log") / "stderr.log")
    try:
        yield server
    finally:
        server.stop()


# --- Request heads ---------------------------------------------------------------------


async def _closed_after(port: int, payload: bytes, *, trickle: bool) -> tuple[float, bytes]:
    """Seconds until the server closes a connection that sends `payload` (byte by byte,
    one every 0.2 s, when `trickle`), and what it answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    answer = b""
    try:
        async with asyncio.timeout(15):
            if trickle:
                for byte in payload:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.2)
                    if reader.at_eof():
                        break
            else:
                writer.write(payload)
            answer = await reader.read()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started, answer


async def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    elapsed, answer = await _closed_after(served.port, b"", trickle=False)
    assert answer == b""
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + 3


async def test_headers_that_trickle_in_are_cut_off(served: Served) -> None:
    endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    elapsed, answer = await _closed_after(served.port, endless, trickle=True)
    assert answer == b""
    assert elapsed < HEADER_TIMEOUT + 3


async def test_oversized_headers_are_refused_with_431(served: Served) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (128 * 1024) + b"\r\n\r\n"
    _, answer = await _closed_after(served.port, huge, trickle=False)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert json.loads(body)["error"]["code"] == "headers_too_large"


async def test_ordinary_and_kept_alive_requests_are_not_cut_off(served: Served) -> None:
    """A request that takes longer than the header deadline to answer, and a kept-alive
    connection idle for less than the keep-alive time, both work."""
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
        await asyncio.sleep(HEADER_TIMEOUT * 1.5)  # between requests: keep-alive applies
        assert (await http.get("/healthz")).status_code == 200
        big = {"query": "{ __typename }", "variables": {"pad": "x" * (MAX_BODY_BYTES // 2)}}
        response = await http.post("/graphql", json=big)
        assert response.status_code == 401  # read whole, then refused for the missing key


# --- WebSocket messages: the same limit as HTTP bodies ----------------------------------


def _init_message(key: str, size: int) -> str:
    """A `connection_init` whose JSON text is exactly `size` bytes."""
    head = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}", "pad": ""}}
    bare = json.dumps(head)
    head["payload"]["pad"] = "x" * (size - len(bare))
    message = json.dumps(head)
    assert len(message.encode()) == size
    return message


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_websocket_message_over_the_body_limit_closes_1009(
    served: Served, database: tuple[str, str], protocol: str
) -> None:
    key = database[1]
    async with asyncio.timeout(30):
        async with connect(
            ws_url(served.url), subprotocols=[protocol], max_size=None, compression=None
        ) as conn:
            with pytest.raises(ConnectionClosed) as closed:
                await conn.send(_init_message(key, MAX_BODY_BYTES + 1))
                await conn.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_a_websocket_message_at_the_body_limit_works(
    served: Served, database: tuple[str, str], protocol: str
) -> None:
    key = database[1]
    async with asyncio.timeout(30):
        async with connect(
            ws_url(served.url), subprotocols=[protocol], max_size=None, compression=None
        ) as conn:
            await conn.send(_init_message(key, MAX_BODY_BYTES))
            assert json.loads(await conn.recv())["type"] == "connection_ack"


# --- A client leaving mid-subscription ---------------------------------------------------


async def _subscribe_and_vanish(url: str, key: str, protocol: str) -> None:
    """Subscribe to a session's events, see one arrive, then drop the TCP connection
    without a close frame (a phone losing its network) while events keep coming."""
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        created = await http.post("/v1/products/generation/sessions", json={}, headers=auth)
        session_id = created.json()["id"]
        await http.post(
            f"/v1/products/generation/sessions/{session_id}/events",
            json={"type": "info"},
            headers=auth,
        )
    start = "subscribe" if protocol == TRANSPORT else "start"
    async with asyncio.timeout(30), httpx.AsyncClient(base_url=url, timeout=10) as http:
        conn = await connect(ws_url(url), subprotocols=[protocol], compression=None)
        await conn.send(json.dumps({"type": "connection_init", "payload": auth}))
        assert json.loads(await conn.recv())["type"] == "connection_ack"
        await conn.send(
            json.dumps(
                {
                    "id": "1",
                    "type": start,
                    "payload": {"query": EVENTS, "variables": {"s": session_id}},
                }
            )
        )
        while json.loads(await conn.recv()).get("id") != "1":
            pass
        conn.transport.abort()  # no close frame, no FIN handshake
        # The server now writes to a socket nobody reads: events, and keep-alives.
        await asyncio.gather(
            *(
                http.post(
                    f"/v1/products/generation/sessions/{session_id}/events",
                    json={"type": "info", "message": "x" * 10_000},
                    headers=auth,
                )
                for _ in range(50)
            )
        )
        await asyncio.sleep(1)


@pytest.mark.parametrize("shared_writes", ["true", "false"])
async def test_a_client_dropping_a_websocket_mid_subscription_is_not_an_error(
    database: tuple[str, str], tmp_path: Path, shared_writes: str
) -> None:
    server = Served(
        database[0],
        tmp_path / "stderr.log",
        {
            "SESSIONGRAPH_WS_SHARED_WRITES": shared_writes,
            "SESSIONGRAPH_WS_KEEPALIVE_SECONDS": "0.2",  # legacy `ka` to the dead socket too
        },
    )
    try:
        for protocol in (TRANSPORT, LEGACY):
            await _subscribe_and_vanish(server.url, database[1], protocol)
        # The server noticed and cleaned up; it still serves.
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        records = server.stop()
    errors = [r for r in records if r.get("level") in ("ERROR", "CRITICAL", "RAW")]
    assert errors == []


# --- The open-file limit -----------------------------------------------------------------


def test_serve_raises_the_soft_open_file_limit_to_the_hard_limit(
    database: tuple[str, str], tmp_path: Path
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    server = Served(database[0], tmp_path / "stderr.log", preexec_fn=low_soft_limit)
    try:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    finally:
        server.stop()
    [line] = [x for x in limits.splitlines() if x.startswith("Max open files")]
    soft, hard_seen = line.split()[3:5]
    assert soft == hard_seen != "256"
