"""A PgBouncer in transaction mode for the multi-process bench (Debian's `pgbouncer`).

Trust authentication, a free loopback port, every database of the PostgreSQL server under
its own name; as root it runs as `postgres` (PgBouncer refuses root). `through(url)` gives
the same database through the bouncer with `pgbouncer=true`, which tells the server to keep
no prepared statement by name; LISTEN must still go direct
(`SESSIONGRAPH_LISTEN_DATABASE_URL`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.servers import stop


def binary() -> str | None:
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Bouncer:
    port: int
    pool_size: int

    def through(self, direct_url: str) -> str:
        url = make_url(direct_url).set(host="127.0.0.1", port=self.port)
        return url.update_query_dict({"pgbouncer": "true"}).render_as_string(False)


@contextmanager
def running(admin_url: str, *, pool_size: int = 20, max_clients: int = 2000) -> Iterator[Bouncer]:
    """A bouncer in front of `admin_url`'s server: at most `pool_size` server connections
    per database and user, however many clients wait."""
    found = binary()
    if found is None:
        raise OSError("pgbouncer is not installed (apt-get install pgbouncer)")
    admin = make_url(admin_url)
    user = admin.username or "postgres"
    directory = Path(tempfile.mkdtemp(prefix="sessiongraph-bench-pgbouncer-"))
    port = _free_port()
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
                f"default_pool_size = {pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                f"max_client_conn = {max_clients}",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {directory / 'pgbouncer.log'}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    command = as_postgres([found, str(directory / "pgbouncer.ini")], directory)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise OSError(f"pgbouncer exited with {process.returncode} while starting")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise OSError("pgbouncer did not start listening within 15 s")
            time.sleep(0.05)
        yield Bouncer(port, pool_size)
    finally:
        stop(process, timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def as_postgres(command: list[str], directory: Path) -> list[str]:
    """PgBouncer refuses to run as root: as root, it runs as `postgres`, which must be able
    to read its files in `directory`."""
    if os.geteuid() != 0:
        return command
    account = pwd.getpwnam("postgres")
    os.chmod(directory, 0o755)
    for path in (directory, *directory.iterdir()):
        os.chown(path, account.pw_uid, account.pw_gid)
    return [command[0], "-u", "postgres", *command[1:]]
