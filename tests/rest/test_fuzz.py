"""Schemathesis against `/openapi.json` of a real server: every default check, zero failures.

Bounded (examples per operation, fixed seed) so it stays within a few minutes per database;
`--long` runs many more examples. The SSE path is fuzzed too: a live session's stream never
ends, so schemathesis.toml has schemathesis read each one for a second and check the events
that arrived (about 100 s per database, against 40 s without the stream).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from db.keys import set_plan
from db.records import Principal
from db.store.engine import Database

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.timeout(300)
async def test_schemathesis_finds_nothing(
    base_url: str,
    api_key: str,
    db: Database,
    principal: Principal,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # The fuzzer sends far more than a default plan's requests per minute.
    await set_plan(db, principal.organization_id, max_requests_per_minute=1_000_000)
    examples = "200" if request.config.getoption("--long") else "20"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {api_key}",
        "--max-examples",
        examples,
        "--seed",
        "20261129",
        "--workers",
        "1",
        "--no-color",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(280):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "No issues found" in text, text
    assert "Selected: 8/8" in text and "Tested: 8" in text, text
