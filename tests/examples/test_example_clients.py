"""The example clients in examples/ run against a real server: query, append, subscribe."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REQUIRE_NODE = os.environ.get("SESSIONGRAPH_REQUIRE_BROWSER", "") not in ("", "0")

pytestmark = pytest.mark.timeout(180)


async def run(*command: str, cwd: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode()
    assert process.returncode == 0, text
    return text


async def test_python_gql_client(base_url: str, api_key: str) -> None:
    output = await run(
        sys.executable,
        "watch_session.py",
        "--url",
        base_url,
        "--key",
        api_key,
        "--count",
        "4",
        cwd=EXAMPLES / "python",
    )
    sequences = [int(s) for s in re.findall(r'"sequence": (\d+)', output)]
    assert sequences == [1, 2, 3, 4], output
    assert '"status": "COMPLETED"' in output and '"eventCount": 4' in output


@pytest.fixture(scope="session")
def node_modules() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if REQUIRE_NODE:
            pytest.fail("node and npm are required for the JavaScript example")
        pytest.skip("node/npm not installed")
    folder = EXAMPLES / "javascript"
    if not (folder / "node_modules" / "graphql-ws").exists():
        asyncio.run(run("npm", "ci", "--no-audit", "--no-fund", "--silent", cwd=folder))
    return folder / "node_modules"


async def test_javascript_graphql_ws_client(
    base_url: str, api_key: str, node_modules: Path
) -> None:
    output = await run(
        "node",
        "watch_session.mjs",
        "--url",
        base_url,
        "--key",
        api_key,
        "--count",
        "4",
        cwd=EXAMPLES / "javascript",
    )
    assert "received 4 events: 1,2,3,4" in output, output
