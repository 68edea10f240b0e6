"""Fixtures: every database-backed test runs on SQLite and on PostgreSQL; the tests where
the connection path matters also run on PostgreSQL through PgBouncer in transaction mode
(`pgbouncer`, LISTEN on a direct connection): see `PGBOUNCER_PATHS` and the `pgbouncer`
marker."""

from __future__ import annotations

import asyncio
import fcntl
import re
import secrets
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from db.keys import create_key
from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.support.databases import (
    POSTGRES_ADMIN_URL,
    REQUIRE_POSTGRES,
    PostgresUnavailable,
    fresh_database,
    migrate,
)
from tests.support.graphql import GraphQLClient
from tests.support.pgbouncer import (
    PgBouncer,
    PgBouncerUnavailable,
    listen_url_for,
    running_pgbouncer,
)
from tests.support.server import running_server
from tests.support.statements import count_statements

BACKENDS = ("sqlite", "postgresql", "pgbouncer")

# Where the way a connection reaches PostgreSQL matters, so these run through PgBouncer as
# well (paths under tests/): the db layer (transactions, raw-driver statements, the bus),
# live streams and LISTEN, connection budgets and database faults, process kills, and the
# read planner's SQL. So does every test module that counts statements (it imports
# `count_statements`); elsewhere a test opts in with `@pytest.mark.pgbouncer`.
PGBOUNCER_PATHS = (
    "db/",
    "stream/",
    "ops/",
    "hardening/test_durability.py",
    "graph/plans/",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="run soak and kill loops at full length")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pgbouncer: run on the pgbouncer backend too (already so for the PGBOUNCER_PATHS "
        "of tests/conftest.py)",
    )


# Tests that share something outside their own databases take turns, whichever worker
# (pytest-xdist, `-n`) or pytest process runs them: each group has a lock file, held by one
# test at a time.
EXCLUSIVE = {
    # Redis and NATS: one channel for every server, and `CLIENT KILL TYPE pubsub` or a
    # dropped link hits every subscriber of the broker.
    "broker": (
        "db/test_bus.py",
        "stream/test_bus_faults.py",
        "stream/test_delivery.py",
        "stream/test_processes.py",
        "bench/test_multiprocess.py",
    ),
    # `npm ci` into one folder (examples/javascript, bench/postgraphile) from two files.
    "npm-examples": ("examples/test_example_clients.py", "examples/test_readme_clients.py"),
    "npm-postgraphile": ("bench/test_harness.py", "bench/test_peer.py"),
}


def _where(item: pytest.Item) -> str:
    """The item's file, relative to tests/ ("" outside it)."""
    try:
        return item.path.relative_to(Path(__file__).parent).as_posix()
    except ValueError:
        return ""


def _turns_in(item: pytest.Item) -> str | None:
    """The `EXCLUSIVE` group the test takes turns in, if any. In the broker files, a test
    whose parameters name neither Redis nor NATS (memory, LISTEN) needs no turn."""
    where = _where(item)
    group = next((g for g, paths in EXCLUSIVE.items() if where.startswith(paths)), None)
    callspec = getattr(item, "callspec", None)
    if group == "broker" and callspec is not None and not re.search("redis|nats", callspec.id):
        return None
    return group


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    """A test of an `EXCLUSIVE` group holds its lock from its set-up (session fixtures such
    as an `npm ci` included) to its teardown."""
    group = _turns_in(item)
    if group is None:
        return (yield)
    lock = Path(tempfile.gettempdir()) / f"sessiongraph-tests-{group}.lock"
    with lock.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            return (yield)
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def runs_through_pgbouncer(item: pytest.Item) -> bool:
    if item.get_closest_marker("pgbouncer") is not None:
        return True
    if getattr(getattr(item, "module", None), "count_statements", None) is count_statements:
        return True
    return _where(item).startswith(PGBOUNCER_PATHS)


def _parametrizes_database_url(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if "database_url" in names:
            return True
    return False


@pytest.hookimpl(tryfirst=True)  # the backend first in test ids, as in `test_x[sqlite-...]`
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each database-backed test once per backend; `pgbouncer` only where it matters. A
    test that parametrizes `database_url` itself (indirectly) chooses its own backends."""
    if "database_url" not in metafunc.fixturenames or _parametrizes_database_url(metafunc):
        return
    backends = BACKENDS if runs_through_pgbouncer(metafunc.definition) else BACKENDS[:2]
    metafunc.parametrize("database_url", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for the whole run; tests isolate by organisation."""
    backend: str = request.param
    engine = "postgresql" if backend == "pgbouncer" else backend
    try:
        with fresh_database(engine, tmp_path_factory.mktemp("db")) as url:
            if backend == "pgbouncer":
                bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
                url = bouncer.through(url)
            migrate(url)
            yield url
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unavailable: {error}")
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """One PgBouncer (transaction mode) in front of the test PostgreSQL for the whole run."""
    try:
        with running_pgbouncer(POSTGRES_ADMIN_URL) as bouncer:
            yield bouncer
    except PgBouncerUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PgBouncer is required with PostgreSQL but unavailable: {error}")
        pytest.skip(str(error))


@pytest.fixture(autouse=True)
def _listen_directly(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind the bouncer, servers a test starts (in process or not) LISTEN directly."""
    if "database_url" not in request.fixturenames:
        return
    listen = listen_url_for(request.getfixturevalue("database_url"))
    if listen is not None:
        monkeypatch.setenv("SESSIONGRAPH_LISTEN_DATABASE_URL", listen)


@pytest.fixture(autouse=True)
def _bouncer_keeps_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the `pgbouncer` backend fails when the bouncer exits under it; the bouncer
    is started again, so only that test fails, not every later one on the backend. The
    bouncer's own known fault is a warning instead (`KNOWN_BOUNCER_FAULT`)."""
    if "database_url" not in request.fixturenames:
        yield
        return
    if listen_url_for(request.getfixturevalue("database_url")) is None:
        yield
        return
    bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
    _bouncer_exit(bouncer.restart_if_exited(), "had exited after the previous test")
    yield
    _bouncer_exit(bouncer.restart_if_exited(), "exited during this test")


# PgBouncer 1.18's own fault when a cancel request's client hangs up first
# (pgbouncer/pgbouncer#801, docs/deployment.md): a warning, since no server behaviour
# caused it and the bouncer has been started again; any other exit fails the test.
KNOWN_BOUNCER_FAULT = "in function disconnect_client(): bad client state"


def _bouncer_exit(log_tail: str | None, when: str) -> None:
    if log_tail is None:
        return
    if KNOWN_BOUNCER_FAULT in log_tail.rstrip().rsplit("\n", 1)[-1]:
        warnings.warn(f"PgBouncer {when} on its known 1.18 fault; restarted", stacklevel=2)
        return
    pytest.fail(f"PgBouncer {when}; {log_tail}")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """For tests about PostgreSQL alone (e.g. several processes on one database)."""
    try:
        with fresh_database("postgresql", tmp_path_factory.mktemp("pg")) as url:
            migrate(url)
            yield url
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unavailable: {error}")
        pytest.skip(str(error))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, listen_url=listen_url_for(database_url))
    yield database
    await database.dispose()


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


async def new_key(
    db: Database, org: str | None = None, user: str | None = None
) -> tuple[Principal, str]:
    """A fresh organisation (so nothing of other tests shows) and a key for it."""
    from db.keys import authenticate

    _, secret = await create_key(db, org or unique("org"), user or unique("user"))
    return await authenticate(db, secret), secret


@pytest.fixture
async def principal_and_key(db: Database) -> tuple[Principal, str]:
    return await new_key(db)


@pytest.fixture
def principal(principal_and_key: tuple[Principal, str]) -> Principal:
    return principal_and_key[0]


@pytest.fixture
def api_key(principal_and_key: tuple[Principal, str]) -> str:
    return principal_and_key[1]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        listen_database_url=listen_url_for(database_url),
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> Starlette:
    return create_app(settings, database=db)


@pytest.fixture
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with running_server(app) as url:
        await _first_sweep_done(app)
        yield url


async def _first_sweep_done(app: Starlette) -> None:
    """The expiry sweep's first pass runs at start-up: tests that count statements see
    only their own requests once it is over."""
    for _ in range(1000):  # 10 s at most
        if app.state.sweeper.sweeps:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the expiry sweep's first pass did not finish")


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient, api_key: str) -> GraphQLClient:
    return GraphQLClient(http, api_key)
