"""A database outage over WebSocket is "try again later", never a refused key or a crash.

Real servers, real databases, real WebSocket clients, both protocols:

- `connection_init` while the database cannot be reached closes with 1013 (Try Again
  Later), not 4403, which a client may take as final; the legacy protocol sends
  `connection_error` with the coded error first.
- `subscribe` / `start` on an acknowledged socket during an outage answers that operation
  with a SERVICE_UNAVAILABLE error and keeps the socket open; the periodic revoked-key
  check does not close it either; once the database is back, operations run again.

Outages: a server whose database URL nobody answers on (a closed PostgreSQL port, a SQLite
path in a missing folder); on a running server, PostgreSQL reached through a TCP relay the
test cuts (open connections dropped, new ones refused), and a SQLite database whose files
the filesystem stops anyone writing (`chattr +i`, which binds root too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from db.keys import KeyWatch
from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.conftest import new_key
from tests.support.server import running_server
from tests.support.ws import LEGACY, TRANSPORT, Socket, socket

pytestmark = pytest.mark.timeout(90)

PROTOCOLS = [TRANSPORT, LEGACY]
START = {TRANSPORT: "subscribe", LEGACY: "start"}
OK_QUERY = "{ __typename }"
A_KEY = "sgk_" + "0" * 40
TRY_AGAIN_LATER = 1013
UNREACHABLE = "the database is unavailable; retry shortly"
REVOCATION_CHECK_SECONDS = 0.2


def unavailable_error(message: str = UNREACHABLE) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE", "retryAfter": 2}}


def server_settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        auto_migrate=False,
        ws_init_timeout_seconds=10,
        ws_keepalive_seconds=30,
        ws_revocation_check_seconds=REVOCATION_CHECK_SECONDS,
        expiry_sweep_seconds=3600,  # the start-up sweep only, before any fault
    )


@contextlib.asynccontextmanager
async def serving(url: str, *, reachable: bool = True) -> AsyncIterator[str]:
    """A real server on `url`; on a reachable database, once its start-up expiry sweep is
    over (a sweep the outage interrupted would log an error of its own)."""
    db = Database(url)
    try:
        app = create_app(server_settings(url), database=db)
        async with running_server(app) as base:
            for _ in range(1000 if reachable else 0):  # 10 s at most
                if app.state.sweeper.sweeps:
                    break
                await asyncio.sleep(0.01)
            else:
                assert not reachable, "the start-up expiry sweep did not finish"
            yield base
    finally:
        await db.dispose()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self, *, besides: tuple[str, ...] = ()) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()}"
            for r in self.records
            if r.levelno >= logging.ERROR and not r.name.startswith(besides)
        ]

    def unavailable_warnings(self) -> list[logging.LogRecord]:
        return [
            r
            for r in self.records
            if r.levelno == logging.WARNING
            and r.getMessage().startswith("database unavailable in")
            and "WebSocket" in r.getMessage()
        ]


@contextlib.contextmanager
def recording() -> Iterator[Records]:
    """Every log record of the process, uvicorn's too (its logger does not propagate, and
    uvicorn's logging set-up replaces its handlers: attach once the server is up)."""
    handler = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def init(ws: Socket, key: str) -> dict[str, Any]:
    await ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    return await ws.recv()


async def reply(ws: Socket, op_id: str) -> dict[str, Any]:
    """The next message about `op_id` (legacy keep-alives skipped)."""
    while (message := await ws.recv(within=15)).get("id") != op_id:
        pass
    return message


async def start(ws: Socket, protocol: str, op_id: str) -> dict[str, Any]:
    await ws.send({"type": START[protocol], "id": op_id, "payload": {"query": OK_QUERY}})
    return await reply(ws, op_id)


def refused_frame(protocol: str, op_id: str, message: str) -> dict[str, Any]:
    """graphql-transport-ws sends a list of errors; the legacy protocol one error object."""
    if protocol == TRANSPORT:
        return {"id": op_id, "type": "error", "payload": [unavailable_error(message)]}
    return {"type": "error", "id": op_id, "payload": unavailable_error(message)}


def answered(protocol: str, message: dict[str, Any]) -> bool:
    kind = "next" if protocol == TRANSPORT else "data"
    return message["type"] == kind and message["payload"] == {"data": {"__typename": "Query"}}


# --- connection_init while the database cannot be reached ------------------------------


def unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return "postgresql://nobody@127.0.0.1:1/none"  # a closed port: connection refused
    return f"sqlite:///{tmp_path}/no/such/folder/sessiongraph.db"  # "unable to open"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_connection_init_during_an_outage_closes_1013_not_4403(
    backend: str, protocol: str, tmp_path: Path
) -> None:
    async with serving(unreachable_url(backend, tmp_path), reachable=False) as base:
        with recording() as log:
            async with socket(base, subprotocols=[protocol]) as ws:
                await ws.send(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {A_KEY}"}}
                )
                if protocol == LEGACY:
                    assert await ws.recv() == {
                        "type": "connection_error",
                        "payload": unavailable_error(),
                    }
                assert await ws.closed() == (TRY_AGAIN_LATER, UNREACHABLE)
    # The expiry sweep's start-up pass fails on this database too, and says so itself.
    assert log.errors(besides=("sessiongraph.expiry",)) == []
    [warning] = log.unavailable_warnings()
    assert warning.exc_info is None
    assert "WebSocket key check" in warning.getMessage()


# --- an outage after the socket was acknowledged ----------------------------------------


class Relay:
    """A TCP relay to PostgreSQL that can be cut (open connections dropped, new ones
    refused, as when the server or the network goes away) and mended on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        self.server = None
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.pipes |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.pipes -= {writer, up_writer}


def chattr(flag: str, paths: list[Path]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)


class Outage:
    """Switches the database a server uses off and on again, for either backend."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        address = make_url(url)
        self.relay = Relay(address.host or "127.0.0.1", address.port or 5432)
        self.files: list[Path] = []

    async def server_url(self) -> str:
        if self.is_sqlite:
            return self.url
        await self.relay.open()
        return make_url(self.url).set(port=self.relay.port).render_as_string(False)

    async def begin(self) -> None:
        if not self.is_sqlite:
            await self.relay.cut()
            return
        # The database and its WAL files: writes fail ("disk I/O error"); reads go on.
        main = Path(make_url(self.url).database or "")
        self.files = [p for p in (main, Path(f"{main}-wal"), Path(f"{main}-shm")) if p.exists()]
        done = chattr("+i", self.files)
        if done.returncode != 0:
            self.files = []
            pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")

    async def end(self) -> None:
        if self.is_sqlite:
            if self.files:
                chattr("-i", self.files).check_returncode()
                self.files = []
        elif self.relay.server is None:
            await self.relay.open()

    async def close(self) -> None:
        await self.end()
        if not self.is_sqlite and self.relay.server is not None:
            await self.relay.cut()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_outage_refuses_operations_and_keeps_the_socket(
    database_url: str, db: Database, protocol: str
) -> None:
    """Each operation met by the outage gets SERVICE_UNAVAILABLE; the socket stays open
    through several revoked-key checks that fail; after the outage operations run again.

    PostgreSQL: the relay is cut, so the key check itself fails. SQLite: reads still work,
    but the operation's rate-limit lease (a write; the organisation is new, so the first
    operation leases) fails.
    """
    _, key = await new_key(db)
    outage = Outage(database_url)
    try:
        async with serving(await outage.server_url()) as base:
            with recording() as log:
                async with socket(base, subprotocols=[protocol]) as ws:
                    assert (await init(ws, key))["type"] == "connection_ack"
                    await outage.begin()
                    assert await start(ws, protocol, "a") == refused_frame(
                        protocol, "a", UNREACHABLE
                    )
                    # Several failed revoked-key checks: the socket must not close as revoked.
                    await asyncio.sleep(6 * REVOCATION_CHECK_SECONDS)
                    assert await start(ws, protocol, "b") == refused_frame(
                        protocol, "b", UNREACHABLE
                    )
                    if not outage.is_sqlite:  # a new connection cannot be checked either
                        async with socket(base, subprotocols=[protocol]) as other:
                            await init_refused(other, protocol, key)
                    await outage.end()
                    # Pooled connections broken by the outage may answer once more with the
                    # same error; a client retries after `retryAfter`, so does this test.
                    for attempt in range(30):
                        message = await start(ws, protocol, f"c{attempt}")
                        if answered(protocol, message):
                            break
                        assert message == refused_frame(protocol, f"c{attempt}", UNREACHABLE)
                        await asyncio.sleep(0.3)
                    else:
                        raise AssertionError("operations did not run again after the outage")
                    async with socket(base, subprotocols=[protocol]) as again:
                        assert (await init(again, key))["type"] == "connection_ack"
                        assert answered(protocol, await start(again, protocol, "d"))
    finally:
        await outage.close()
    assert log.errors() == []
    warnings = log.unavailable_warnings()
    assert warnings and all(w.exc_info is None for w in warnings)


async def init_refused(ws: Socket, protocol: str, key: str) -> None:
    await ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    if protocol == LEGACY:
        assert await ws.recv() == {"type": "connection_error", "payload": unavailable_error()}
    assert await ws.closed() == (TRY_AGAIN_LATER, UNREACHABLE)


# --- the revoked-key check itself --------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_key_watch_never_takes_an_outage_for_a_revocation(
    backend: str, tmp_path: Path
) -> None:
    """Every check fails; the watch keeps polling and never ends the connection."""
    db = Database(unreachable_url(backend, tmp_path))
    watch = KeyWatch(db, interval=0.05)
    ended: list[str] = []

    async def on_revoked() -> None:
        ended.append("revoked")

    try:
        with recording() as log:
            stop = watch.watch("key_00000000", on_revoked)
            await asyncio.sleep(0.5)
            assert watch._task is not None and not watch._task.done()
            stop()
        assert ended == []
        assert len(watch._watched) == 0
        failed = [r for r in log.records if r.name == "sessiongraph.keys"]
        assert len(failed) >= 3 and {r.levelno for r in failed} == {logging.WARNING}
    finally:
        await watch.stop()
        await db.dispose()
