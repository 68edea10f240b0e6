"""`python -m bench`: build the data set, start the servers, drive load, print the table.

Per database (SQLite, then PostgreSQL): migrate and fill a fresh database, start the real
server and the floor on it (uvicorn, one worker each) and, on PostgreSQL, PostGraphile v5
(bench/peer.py; skipped with a message where Node is missing). Each workload runs against
the floor, the JSON floor (q1, q2, REST GET: the database writes the answer), PostGraphile
(q1, q2) and then the server, one after the other with a short warm-up each, and the
report gives req/s, p50, p99 and, from the same run, the server's req/s divided by:
the floor's (`ratio`), the faster floor's (`ratio_faster_floor`, which the targets apply
to) and PostGraphile's (`ratio_postgraphile`). Writes the table as JSON too (`--json`,
default `bench/results/latest.json`).
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
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench import dataset, load, node, peer, workloads
from bench.servers import Server, floor_server, real_server

DEFAULT_POSTGRES = os.environ.get(
    "SESSIONGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# The server's req/s over the faster floor's, and (PostgreSQL) over PostGraphile's.
TARGETS = {"q1": 0.6, "q2": 0.6, "rest_get": 0.8, "rest_append": 0.7}
PEER_TARGETS = {"q1": 1.5, "q2": 1.5}
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
        "--no-peer", action="store_true", help="do not run PostGraphile on PostgreSQL"
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


def _send(target: Server, request: workloads.Request) -> httpx.Response:
    return httpx.request(
        request.method,
        target.url + request.path,
        content=request.body or None,
        headers=dict(request.headers),
        timeout=30,
    )


def check_same_json(server: Server, floor: Server, work: workloads.Workload) -> str | None:
    """The floor must answer what the server answers (reads only), or the ratio means nothing."""
    if work.name.endswith("append"):
        return None
    if _send(server, work.server[0]).json() != _send(floor, work.floor[0]).json():
        return f"{work.name}: the floor's JSON differs from the server's"
    return None


def check_same_bytes(floor: Server, work: workloads.Workload) -> str | None:
    """The JSON floor must answer the Python floor's bytes, for every variant."""
    for python_request, json_request in zip(work.floor, work.json_floor, strict=True):
        python, json_built = _send(floor, python_request), _send(floor, json_request)
        if (python.status_code, python.content) != (json_built.status_code, json_built.content):
            return (
                f"{work.name}: the JSON floor's bytes differ from the floor's ({json_request.path})"
            )
    return None


def check_peer(
    server: Server,
    postgraphile: Server,
    work: workloads.Workload,
    requests: list[workloads.Request],
) -> str | None:
    """PostGraphile must find the sessions and events the server finds (checked once)."""
    ours = _send(server, work.server[0]).json()
    return peer.differences(work.name, ours, _send(postgraphile, requests[0]).json())


def start_peer(
    kind: str, url: str, args: argparse.Namespace, notes: list[str], stack: ExitStack
) -> Server | None:
    """PostGraphile on PostgreSQL, running until `stack` closes; or None, the reason printed
    and noted (Node missing, install or start failed, not asked for)."""
    wanted = {"q1", "q2"} & (set(args.only.split(",")) if args.only else {"q1", "q2"})
    if kind != "postgresql" or args.no_peer or not wanted:
        return None
    reason = peer.unavailable()
    if reason is None:
        try:
            return stack.enter_context(peer.running(url))
        except (node.NodeCommandFailed, RuntimeError, TimeoutError) as error:
            reason = f"PostGraphile skipped: it could not be installed or started: {error}"
    print(f"[{kind}] {reason}", flush=True)
    notes.append(reason)
    return None


def _ratio(numerator: load.Measurement, denominator: load.Measurement | None) -> float | None:
    if denominator is None:
        return None
    if not denominator.requests_per_second:
        return 0.0
    return round(numerator.requests_per_second / denominator.requests_per_second, 3)


def measure_workload(
    work: workloads.Workload,
    targets: list[tuple[str, Server, list[workloads.Request]]],
    duration: float,
    use_wrk: bool,
) -> dict[str, Any]:
    """Each target in turn, warm-up first; the row with every ratio to the server."""
    results: dict[str, load.Measurement] = {}
    for name, target, requests in targets:
        load.measure(
            target.url, requests, work.concurrency, min(2.0, duration / 3), use_wrk=use_wrk
        )
        results[name] = load.measure(
            target.url, requests, work.concurrency, duration, use_wrk=use_wrk
        )
    real, base = results["server"], results["floor"]
    json_built, postgraphile = results.get("json_floor"), results.get("postgraphile")
    faster = (
        "json_floor"
        if json_built and json_built.requests_per_second > base.requests_per_second
        else "floor"
    )
    row: dict[str, Any] = {
        "workload": work.name,
        "notes": work.notes,
        **{name: asdict(measured) for name, measured in results.items()},
        "ratio": _ratio(real, base),
        "faster_floor": faster,
        "ratio_faster_floor": _ratio(real, results[faster]),
        "ratio_postgraphile": _ratio(real, postgraphile),
        "target": TARGETS.get(work.name),
        "target_postgraphile": PEER_TARGETS.get(work.name) if postgraphile else None,
    }
    return row


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
        peer_requests = peer.requests(data.read_ids)
        with ExitStack() as running:
            server = running.enter_context(real_server(url))
            floor = running.enter_context(floor_server(url))
            postgraphile = start_peer(kind, url, args, notes, running)
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
                targets = [("floor", floor, work.floor)]
                checks = [check_same_json(server, floor, work)]
                if work.json_floor:
                    targets.append(("json_floor", floor, work.json_floor))
                    checks.append(check_same_bytes(floor, work))
                if postgraphile is not None and work.name in peer_requests:
                    targets.append(("postgraphile", postgraphile, peer_requests[work.name]))
                    checks.append(check_peer(server, postgraphile, work, peer_requests[work.name]))
                for mismatch in filter(None, checks):
                    notes.append(mismatch)
                    print(f"[{kind}] WARNING {mismatch}", flush=True)
                targets.append(("server", server, work.server))
                rows.append(measure_workload(work, targets, duration, use_wrk))
                print(f"[{kind}] {format_row(rows[-1])}", flush=True)
            peak = server.peak_rss_mib()
            floor_peak = floor.peak_rss_mib()
            peer_peak = postgraphile.peak_rss_mib() if postgraphile else None
    return {
        "database": kind,
        "rows": rows,
        "peak_rss_mib": round(peak, 1),
        "floor_peak_rss_mib": round(floor_peak, 1),
        "postgraphile_peak_rss_mib": round(peer_peak, 1) if peer_peak is not None else None,
        "notes": notes,
        "load_generator": "wrk" if use_wrk else "builtin",
    }


def _rate(row: dict[str, Any], side: str) -> str:
    return f"{row[side]['requests_per_second']:>10.1f}" if side in row else f"{'-':>10}"


def _against(ratio: float | None, target: float | None) -> str:
    """A ratio and its target: ' 0.72 ≥1.5 '."""
    if ratio is None:
        return f"{'-':>6}{'':6}"
    return f"{ratio:>6.2f}" + (f" ≥{target}" if target else "").ljust(6)


def format_row(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"{row['workload']:<15} {row['skipped']}"
    s = row["server"]
    sides = [side for side in ("server", "floor", "json_floor", "postgraphile") if side in row]
    failures = [f"{side} {row[side]['failures']}" for side in sides if row[side]["failures"]]
    failed = f"  FAILED {', '.join(failures)}" if failures else ""
    line = (
        f"{row['workload']:<15} {s['requests_per_second']:>9.1f} {s['p50_ms']:>8.2f}"
        f" {s['p99_ms']:>8.2f} {_rate(row, 'floor')} {_rate(row, 'json_floor')}"
        f" {_rate(row, 'postgraphile')} {row['ratio']:>6.2f}"
        f" {_against(row['ratio_faster_floor'], row['target'])}"
        f" {_against(row['ratio_postgraphile'], row['target_postgraphile'])}{failed}"
    )
    return line.rstrip()


HEADER = (
    f"{'workload':<15} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'floor r/s':>10}"
    f" {'JSON r/s':>10} {'PGL r/s':>10} {'÷floor':>6} {'÷faster':>6}{'':6} {'÷PGL':>6}"
)
LEGEND = (
    "req/s, p50, p99: the server's. ÷: the server's req/s over the floor's, the faster floor's"
    " (Python or JSON floor) and PostGraphile's (PGL), same run. ≥: the target."
)


def print_table(report: dict[str, Any]) -> None:
    for result in report["results"]:
        print()
        print(
            f"== {result['database']} ({result['load_generator']},"
            f" {report['duration_s']} s per run, {report['concurrency']} connections) =="
        )
        print(LEGEND)
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
            + (
                f"; PostGraphile: {result['postgraphile_peak_rss_mib']} MiB"
                if result.get("postgraphile_peak_rss_mib") is not None
                else ""
            )
        )
        for note in result["notes"]:
            print(f"note: {note}")


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
