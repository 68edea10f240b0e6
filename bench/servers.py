"""Start the real server and the floor as uvicorn subprocesses (one worker each).

`serving` runs any HTTP server command until the block ends (PostGraphile uses it too).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    url: str
    pid: int

    def peak_rss_mib(self) -> float:
        """VmHWM: the most resident memory the process has had since it started."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(path: str) -> Callable[[str], bool]:
    """Ready once GET `path` gets any HTTP answer."""
    return lambda url: httpx.get(url + path, timeout=1).status_code > 0


@contextmanager
def serving(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    ready: Callable[[str], bool],
    *,
    cwd: Path | None = None,
    within: float = 30,
) -> Iterator[Server]:
    """`command`, listening on 127.0.0.1:`port`, up once `ready(base_url)` is true (a
    connection refused counts as not yet); stopped (SIGTERM, then SIGKILL) when the block
    ends, however it ends."""
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + within
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} while starting")
            try:
                if ready(url):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {within:.0f} s")
            time.sleep(0.1)
        yield Server(name, url, process.pid)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Terminate, and kill what does not end within `timeout`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def uvicorn_process(
    name: str, app: str, env: dict[str, str], probe: str
) -> AbstractContextManager[Server]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return serving(name, command, env, port, answers(probe))


def real_server(database_url: str) -> AbstractContextManager[Server]:
    env = {
        "SESSIONGRAPH_DATABASE_URL": database_url,
        "SESSIONGRAPH_AUTO_MIGRATE": "false",
        "SESSIONGRAPH_ENV": "production",
        "SESSIONGRAPH_LOG_LEVEL": "warning",
    }
    return uvicorn_process("sessiongraph", "graph.app:app_factory", env, "/healthz")


def floor_server(database_url: str) -> AbstractContextManager[Server]:
    env = {"BENCH_FLOOR_DATABASE_URL": database_url}
    return uvicorn_process("floor", "bench.floor:app_factory", env, "/q2")
