"""The benchmark harness runs end to end in quick mode: data set, both servers, every workload.

Asserts what a run must produce (answers that are all 2xx, the floor returning the
server's JSON, the JSON floor the floor's bytes, PostGraphile our sessions and events on
PostgreSQL, a JSON report with every ratio), never how fast anything was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peer
from tests.support.databases import POSTGRES_ADMIN_URL, REQUIRE_POSTGRES

ROOT = Path(__file__).resolve().parents[2]
MEASURED = {"q1", "q2", "graphql_append", "page_first", "page_deep"}
REST = {"rest_get", "rest_append"}
JSON_FLOOR = {"q1", "q2", "rest_get"}
PEER = {"q1", "q2"}


@pytest.mark.timeout(400)
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_quick_run_end_to_end(database: str, tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--duration",
            "1",
            "--databases",
            database,
            "--postgres-url",
            POSTGRES_ADMIN_URL,
            "--json",
            str(report_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(report_path.read_text())
    (result,) = report["results"]
    if "skipped" in result:
        if REQUIRE_POSTGRES:
            pytest.fail(result["skipped"])
        pytest.skip(result["skipped"])
    rows = {row["workload"]: row for row in result["rows"]}
    assert set(rows) == MEASURED | REST
    with_peer = database == "postgresql" and peer.unavailable() is None
    for name in MEASURED | (REST & {"rest_get"}):
        row = rows[name]
        if "skipped" in row:
            assert name in REST, row
            continue
        sides = ["server", "floor"]
        sides += ["json_floor"] if name in JSON_FLOOR else []
        sides += ["postgraphile"] if name in PEER and with_peer else []
        for side in sides:
            assert row[side]["requests"] > 0, (name, side)
            assert row[side]["failures"] == 0, (name, side, row)
        assert row["ratio"] > 0 and row["ratio_faster_floor"] > 0
        assert row["ratio_faster_floor"] <= row["ratio"]
        if name in PEER and with_peer:
            assert row["ratio_postgraphile"] > 0 and row["target_postgraphile"] == 1.5
        else:
            assert row["ratio_postgraphile"] is None
    for name in REST:
        assert "skipped" in rows[name] or rows[name]["server"]["failures"] == 0
    assert not [note for note in result["notes"] if "differ" in note], result["notes"]
    assert result["peak_rss_mib"] > 0
    assert "q1" in completed.stdout and "÷faster" in completed.stdout
    if with_peer:
        assert "PGL" in completed.stdout and result["postgraphile_peak_rss_mib"] > 0
