"""Start the real server and the floor as uvicorn subprocesses (one worker each)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


@contextmanager
def uvicorn_process(name: str, app: str, env: dict[str, str], probe: str) -> Iterator[Server]:
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
    process = subprocess.Popen(command, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} while starting")
            try:
                httpx.get(url + probe, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start within 30 s") from None
                time.sleep(0.1)
        yield Server(name, url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def real_server(database_url: str) -> Iterator[Server]:  # type: ignore[misc]
    env = {
        "SESSIONGRAPH_DATABASE_URL": database_url,
        "SESSIONGRAPH_AUTO_MIGRATE": "false",
        "SESSIONGRAPH_ENV": "production",
        "SESSIONGRAPH_LOG_LEVEL": "warning",
    }
    return uvicorn_process("sessiongraph", "graph.app:app_factory", env, "/healthz")  # type: ignore[return-value]


def floor_server(database_url: str) -> Iterator[Server]:  # type: ignore[misc]
    env = {"BENCH_FLOOR_DATABASE_URL": database_url}
    return uvicorn_process("floor", "bench.floor:app_factory", env, "/q2")  # type: ignore[return-value]
