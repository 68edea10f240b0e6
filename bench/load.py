"""Load generators: wrk when installed (`apt-get install wrk`), else a lean asyncio client.

Both keep `concurrency` keep-alive connections busy for `duration` seconds, rotate over a
workload's request variants, and report requests per second, p50 and p99 latency, and
how many answers were not 2xx.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.workloads import Request


@dataclass(frozen=True, slots=True)
class Measurement:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    tool: str


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_string(value: str) -> str:
    level = "=" * 4
    return f"[{level}[{value}]{level}]"


def _wrk_script(requests: list[Request]) -> str:
    lines = ["local reqs = {}", "function init(args)"]
    for index, request in enumerate(requests, start=1):
        headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in request.headers)
        body = _lua_string(request.body.decode()) if request.body else "nil"
        lines.append(
            f"  reqs[{index}] = wrk.format({_lua_string(request.method)},"
            f" {_lua_string(request.path)}, {{{headers}}}, {body})"
        )
    lines += [
        "end",
        "local i = 0",
        "function request()",
        "  i = i % #reqs + 1",
        "  return reqs[i]",
        "end",
    ]
    return "\n".join(lines) + "\n"


def _to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    base_url: str, requests: list[Request], concurrency: int, duration: float
) -> Measurement:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(requests))
    try:
        output = subprocess.run(
            [
                wrk_path() or "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        Path(script.name).unlink()
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    failures = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(failures.group(1)) if failures else 0
    if errors:
        failed += sum(int(g) for g in errors.groups())
    return Measurement(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_to_ms(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_to_ms(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        requests=total,
        failures=failed,
        tool="wrk",
    )


def _raw(request: Request, host: str) -> bytes:
    head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}"]
    head += [f"{k}: {v}" for k, v in request.headers]
    head.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + request.body


async def _connection(
    host: str,
    port: int,
    payloads: list[bytes],
    offset: int,
    deadline: float,
    latencies: list[float],
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    failures = 0
    index = offset
    try:
        while time.perf_counter() < deadline:
            payload = payloads[index % len(payloads)]
            index += 1
            started = time.perf_counter()
            writer.write(payload)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.split(b" ")[1].startswith(b"2"):
                failures += 1
    finally:
        writer.close()
    return failures


async def run_builtin(
    base_url: str, requests: list[Request], concurrency: int, duration: float
) -> Measurement:
    host_port = base_url.split("://", 1)[1]
    host, port = host_port.split(":")
    payloads = [_raw(r, host_port) for r in requests]
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration
    failures = await asyncio.gather(
        *(
            _connection(host, int(port), payloads, i, deadline, latencies)
            for i in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return Measurement(
        requests_per_second=len(latencies) / elapsed,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        requests=len(latencies),
        failures=sum(failures),
        tool="builtin",
    )


def measure(
    base_url: str, requests: list[Request], concurrency: int, duration: float, *, use_wrk: bool
) -> Measurement:
    if use_wrk:
        return run_wrk(base_url, requests, concurrency, duration)
    return asyncio.run(run_builtin(base_url, requests, concurrency, duration))
