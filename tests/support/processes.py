"""`sessiongraph serve` as a real subprocess on a free loopback port, for tests that need
several server processes or must kill one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    def __init__(self, database_url: str, cwd: Path, **env: str) -> None:
        self.database_url = database_url
        self.cwd = cwd
        self.env = {
            **os.environ,
            "SESSIONGRAPH_DATABASE_URL": database_url,
            "SESSIONGRAPH_AUTO_MIGRATE": "false",
            "SESSIONGRAPH_LOG_LEVEL": "warning",
            **{f"SESSIONGRAPH_{k.upper()}": v for k, v in env.items()},
        }
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graph", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise TimeoutError("server did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as after a crash or power cut of the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def server_process(database_url: str, cwd: Path, **env: str) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, cwd, **env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
