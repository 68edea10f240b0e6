"""A real PgBouncer in transaction mode in front of the test PostgreSQL, started by the tests.

`running_pgbouncer(directory)` writes a `pgbouncer.ini` and a user list into `directory`
(trust authentication, `pool_mode = transaction`, a free loopback port, every database
of the PostgreSQL server reachable under its own name), starts Debian's `pgbouncer`
(as `postgres` when the tests run as root: it refuses to run as root) and stops it
afterwards. `through(url)` turns a direct PostgreSQL URL into the same database through
the bouncer, with `pgbouncer=true` so the server keeps no prepared statement by name.

When `pgbouncer` is not installed, `PgBouncerUnavailable` is raised; the fixtures skip on
it unless `SESSIONGRAPH_REQUIRE_POSTGRES=1`, where they fail (`.ci/run` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.pgbouncer import as_postgres
from bench.servers import stop
from tests.support.processes import free_port

# Direct PostgreSQL URL of each database served through a bouncer, by the bouncer URL:
# the LISTEN connection must bypass transaction pooling (`SESSIONGRAPH_LISTEN_DATABASE_URL`).
LISTEN_URLS: dict[str, str] = {}


class PgBouncerUnavailable(Exception):
    pass


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
    if found is None:
        raise PgBouncerUnavailable(
            "pgbouncer is not installed (apt-get install pgbouncer); its tests need it"
        )
    return found


class PgBouncer:
    def __init__(self, port: int, directory: Path, command: list[str]) -> None:
        self.port = port
        self.directory = directory
        self.command = command
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def restart_if_exited(self) -> str | None:
        """None while the bouncer runs. When it has exited (PgBouncer 1.18 can stop on a
        `FATAL` of its own), start it again on the same port, so the tests after the one
        that saw it go are not failed as well, and return the end of its log."""
        if self.process.poll() is None:
            return None
        tail = f"exit status {self.process.returncode}; the end of its log:\n" + self.log[-4000:]
        (self.directory / "pgbouncer.pid").unlink(missing_ok=True)
        self.process = self._start()
        _wait_listening(self)
        return tail

    def through(self, direct_url: str) -> str:
        """`direct_url`'s database through this bouncer, flagged `pgbouncer=true`."""
        url = make_url(direct_url).set(host="127.0.0.1", port=self.port)
        bounced = url.update_query_dict({"pgbouncer": "true"}).render_as_string(False)
        LISTEN_URLS[bounced] = direct_url
        return bounced

    @property
    def log(self) -> str:
        return (self.directory / "pgbouncer.log").read_text(errors="replace")


def listen_url_for(database_url: str) -> str | None:
    """The direct URL the LISTEN connection takes when `database_url` is a bouncer's."""
    return LISTEN_URLS.get(database_url)


@contextmanager
def running_pgbouncer(
    admin_url: str,
    *,
    default_pool_size: int = 20,
    max_db_connections: int = 0,
    max_client_conn: int = 2000,
) -> Iterator[PgBouncer]:
    """A bouncer in front of the PostgreSQL server of `admin_url` (its host, port, user).

    `max_db_connections` (0: no cap) bounds the server connections per database, however
    many clients wait; `default_pool_size` bounds them per database and user.
    """
    binary = pgbouncer_binary()
    admin = make_url(admin_url)
    user = admin.username or "postgres"
    directory = Path(tempfile.mkdtemp(prefix="sessiongraph-pgbouncer-"))
    port = free_port()
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={admin.host or '127.0.0.1'} port={admin.port or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {directory / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {default_pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                f"max_db_connections = {max_db_connections}",
                f"max_client_conn = {max_client_conn}",
                f"admin_users = {user}",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {directory / 'pgbouncer.log'}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    command = as_postgres([binary, str(directory / "pgbouncer.ini")], directory)
    bouncer = PgBouncer(port, directory, command)
    try:
        _wait_listening(bouncer)
        yield bouncer
    finally:
        stop(bouncer.process, timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_listening(bouncer: PgBouncer, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            log = (bouncer.directory / "pgbouncer.log").exists() and bouncer.log
            raise RuntimeError(f"pgbouncer exited with {bouncer.process.returncode}: {log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", bouncer.port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("pgbouncer did not start listening")
