"""The multi-process bench runs end to end in quick mode on every bus.

Two `serve` processes on one PostgreSQL database (through PgBouncer when it is
installed), 40 WebSocket subscribers, appends on both processes: asserts the report's
shape and that every subscriber got every event of its session exactly once, never how
fast anything was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import POSTGRES_ADMIN_URL, REQUIRE_POSTGRES

ROOT = Path(__file__).resolve().parents[2]
BUSES = ["postgres", "redis", "nats"]
FIGURES = {
    "appends_per_second": float,
    "p50_ms": float,
    "p99_ms": float,
    "delivered": int,
    "expected": int,
    "pg_connections_peak": int,
    "rss_idle_mib": float,
    "rss_subscribed_mib": float,
}


@pytest.mark.timeout(300)
def test_quick_multiprocess_run_delivers_every_event_once(tmp_path: Path) -> None:
    report_path = tmp_path / "multiprocess.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "multiprocess",
            "--quick",
            "--processes",
            "2",
            "--subscribers",
            "40",
            "--sessions",
            "10",
            "--buses",
            ",".join(BUSES),
            "--postgres-url",
            POSTGRES_ADMIN_URL,
            "--json",
            str(report_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=270,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["processes"] == 2 and report["subscribers"] == 40
    results = {r["bus"]: r for r in report["results"]}
    assert list(results) == BUSES
    skipped = {bus: r["skipped"] for bus, r in results.items() if "skipped" in r}
    if skipped:
        if REQUIRE_POSTGRES:
            pytest.fail(str(skipped))
        pytest.skip(str(skipped))
    for bus, result in results.items():
        for name, kind in FIGURES.items():
            assert isinstance(result[name], (int, float) if kind is float else int), (bus, name)
        assert result["append_failures"] == 0, (bus, result["append_failure_samples"])
        assert result["appends"] == round(report["rate"] * report["duration_s"]), bus
        assert result["appends_graphql"] > 0 and result["appends_rest"] > 0, bus
        assert result["subscriber_errors"] == [], (bus, result["subscriber_errors"])
        # Every subscriber has every event its session holds after the warm-up, once.
        assert result["drained"], bus
        assert result["expected"] == result["appends"] * 40 // 10, bus
        assert result["delivered"] == result["expected"], bus
        assert result["lost"] == 0 and result["repeated"] == 0 and result["gaps"] == 0, bus
        assert result["pg_connections_peak"] > 0, bus
        assert result["pgbouncer"] == report["pgbouncer"]
    assert "delivered/expected" in completed.stdout
