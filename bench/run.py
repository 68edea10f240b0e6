"""`python -m bench`: build the data set, start both servers, drive load, print the table.

Per database (SQLite, then PostgreSQL): migrate and fill a fresh database, start the real
server and the floor on it (uvicorn, one worker each), run every workload against the
floor and then the server with a short warm-up each, and report req/s, p50, p99 and the
ratio of the server's req/s to the floor's measured in the same run. Writes the table as
JSON too (`--json`, default `bench/results/latest.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench import dataset, load, workloads
from bench.servers import Server, floor_server, real_server

DEFAULT_POSTGRES = os.environ.get(
    "SESSIONGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGETS = {"q1": 0.5, "q2": 0.5, "rest_get": 0.8, "rest_append": 0.7}
FULL = {"sessions": 1_000, "events": 20, "page_sessions": 100_000, "deep_rows": 90_000}
QUICK = {"sessions": 40, "events": 20, "page_sessions": 2_000, "deep_rows": 1_800}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, short runs (smoke test)")
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (default 10, quick 1)"
    )
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES, help="server to create the bench database on"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="connections for read workloads"
    )
    parser.add_argument("--only", help="comma-separated workload names (default: all)")
    parser.add_argument(
        "--builtin",
        action="store_true",
        help="use the asyncio load generator even if wrk is installed",
    )
    parser.add_argument(
        "--json", default="bench/results/latest.json", help="where to write the results"
    )
    return parser.parse_args(argv)


async def _pg_admin(admin_url: str, sql: str) -> None:
    plain = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(plain, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(kind: str, admin_url: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    name = "sessiongraph_bench_" + secrets.token_hex(4)
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def has_rest_routes(server: Server, data: dataset.Dataset) -> bool:
    response = httpx.get(
        f"{server.url}{workloads.REST_PREFIX}/{data.read_ids[0]}",
        headers={"Authorization": f"Bearer {data.key}"},
        timeout=10,
    )
    return response.status_code == 200 and response.headers.get("content-type", "").startswith(
        "application/json"
    )


def check_same_json(server: Server, floor: Server, work: workloads.Workload) -> str | None:
    """The floor must answer what the server answers (reads only), or the ratio means nothing."""
    if work.name.endswith("append"):
        return None
    answers = []
    for target, request in ((server, work.server[0]), (floor, work.floor[0])):
        response = httpx.request(
            request.method,
            target.url + request.path,
            content=request.body or None,
            headers=dict(request.headers),
            timeout=30,
        )
        answers.append(response.json())
    if answers[0] != answers[1]:
        return f"{work.name}: the floor's JSON differs from the server's"
    return None


def run_database(
    kind: str, args: argparse.Namespace, sizes: dict[str, int], duration: float
) -> dict[str, Any]:
    use_wrk = load.wrk_path() is not None and not args.builtin
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(kind, args.postgres_url, Path(tmp)) as url,
    ):
        print(f"[{kind}] creating data set {sizes} ...", flush=True)
        data = asyncio.run(
            dataset.create(
                url,
                sessions_count=sizes["sessions"],
                events_each=sizes["events"],
                page_sessions=sizes["page_sessions"],
                deep_rows=sizes["deep_rows"],
            )
        )
        chosen = set(args.only.split(",")) if args.only else None
        plan = workloads.build(
            data.key,
            data.pages_key,
            data.read_ids,
            data.write_ids,
            data.deep_cursor,
            data.deep_rows,
            args.concurrency,
        )
        with real_server(url) as server, floor_server(url) as floor:
            rest = has_rest_routes(server, data)
            for work in plan:
                if chosen is not None and work.name not in chosen:
                    continue
                if work.needs_rest and not rest:
                    message = (
                        f"{work.name}: skipped, the server has no REST routes under"
                        f" {workloads.REST_PREFIX} yet"
                    )
                    print(f"[{kind}] {message}", flush=True)
                    notes.append(message)
                    rows.append({"workload": work.name, "skipped": message})
                    continue
                mismatch = check_same_json(server, floor, work)
                if mismatch:
                    notes.append(mismatch)
                    print(f"[{kind}] WARNING {mismatch}", flush=True)
                results = {}
                for target, requests in ((floor, work.floor), (server, work.server)):
                    load.measure(
                        target.url,
                        requests,
                        work.concurrency,
                        min(2.0, duration / 3),
                        use_wrk=use_wrk,
                    )
                    results[target.name] = load.measure(
                        target.url, requests, work.concurrency, duration, use_wrk=use_wrk
                    )
                real, base = results["sessiongraph"], results["floor"]
                ratio = (
                    real.requests_per_second / base.requests_per_second
                    if base.requests_per_second
                    else 0.0
                )
                rows.append(
                    {
                        "workload": work.name,
                        "notes": work.notes,
                        "server": asdict(real),
                        "floor": asdict(base),
                        "ratio": round(ratio, 3),
                        "target": TARGETS.get(work.name),
                    }
                )
                print(f"[{kind}] {format_row(rows[-1])}", flush=True)
            peak = server.peak_rss_mib()
            floor_peak = floor.peak_rss_mib()
    return {
        "database": kind,
        "rows": rows,
        "peak_rss_mib": round(peak, 1),
        "floor_peak_rss_mib": round(floor_peak, 1),
        "notes": notes,
        "load_generator": "wrk" if use_wrk else "builtin",
    }


def _cells(m: dict[str, Any]) -> str:
    return f"{m['requests_per_second']:>9.1f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f}"


def format_row(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"{row['workload']:<15} {row['skipped']}"
    s, f = row["server"], row["floor"]
    target = f" (target {row['target']})" if row.get("target") else ""
    failed = f"  FAILED {s['failures']}/{f['failures']}" if s["failures"] or f["failures"] else ""
    return f"{row['workload']:<15} {_cells(s)}   {_cells(f)}   {row['ratio']:>5.2f}{target}{failed}"


HEADER = (
    f"{'workload':<15} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    f"   {'floor r/s':>9} {'p50 ms':>8} {'p99 ms':>8}   ratio"
)


def print_table(report: dict[str, Any]) -> None:
    for result in report["results"]:
        print()
        print(
            f"== {result['database']} ({result['load_generator']},"
            f" {report['duration_s']} s per run, {report['concurrency']} connections) =="
        )
        print(HEADER)
        by_name = {}
        for row in result["rows"]:
            print(format_row(row))
            by_name[row["workload"]] = row
        first, deep = by_name.get("page_first"), by_name.get("page_deep")
        if first and deep and "server" in first and "server" in deep:
            cost = first["server"]["requests_per_second"] / deep["server"]["requests_per_second"]
            rows = report["sizes"]["deep_rows"]
            print(f"page after {rows:,} rows costs {cost:.2f}x the first page (target <= 1.2)")
        print(
            f"peak RSS of the server: {result['peak_rss_mib']} MiB (target <= 200);"
            f" floor: {result['floor_peak_rss_mib']} MiB"
        )


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds the `with` blocks: servers stopped, databases dropped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    duration = args.duration or (1.0 if args.quick else 10.0)
    report: dict[str, Any] = {
        "sizes": sizes,
        "duration_s": duration,
        "concurrency": args.concurrency,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "results": [],
    }
    for kind in args.databases.split(","):
        try:
            report["results"].append(run_database(kind.strip(), args, sizes, duration))
        except (OSError, asyncpg.PostgresError) as error:
            if kind.strip() != "postgresql":
                raise
            message = f"PostgreSQL at {args.postgres_url} is unavailable: {error}"
            print(f"[postgresql] skipped: {message}")
            report["results"].append({"database": "postgresql", "skipped": message, "rows": []})
    print_table({**report, "results": [r for r in report["results"] if "skipped" not in r]})
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {path}")
    return 0
