"""The public `graphql-http` audit suite (npm) against a real server: every audit must pass.

Its npm packages are pinned in tests/graph/audit/package-lock.json and installed there with
`npm ci` on first use. Without Node.js the test is skipped with that reason, unless
`SESSIONGRAPH_REQUIRE_AUDIT=1` (CI sets it), which makes it fail instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

AUDIT_DIR = Path(__file__).parent / "audit"
REQUIRED = os.environ.get("SESSIONGRAPH_REQUIRE_AUDIT", "") not in ("", "0")


def node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "the graphql-http audit needs Node.js 18+ and npm on PATH"
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    return node, npm


@pytest.fixture(scope="session")
def audit_script() -> list[str]:
    node, npm = node_tools()
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AUDIT_DIR,
            check=True,
            timeout=300,
        )
    return [node, str(AUDIT_DIR / "audit.mjs")]


@pytest.mark.timeout(120)
async def test_every_audit_passes(audit_script: list[str], base_url: str, api_key: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *audit_script,
        f"{base_url}/graphql",
        api_key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    results: list[dict[str, Any]] = json.loads(stdout)
    assert len(results) >= 40
    failed = [r for r in results if r["status"] != "ok"]
    assert failed == [], json.dumps(failed, indent=2)
