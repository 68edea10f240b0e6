"""Apollo Client 4 and urql speak automatic persisted queries with a real server.

examples/persisted/ runs each client under Node with a fetch that records every request;
its npm packages are pinned in package-lock.json and installed there with `npm ci` on
first use. Each run must go: hash only (miss), text and hash (registered), hash only (hit).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "persisted"
REQUIRE_NODE = os.environ.get("SESSIONGRAPH_REQUIRE_BROWSER", "") not in ("", "0")

pytestmark = pytest.mark.timeout(180)


async def run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=FOLDER, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
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


@pytest.fixture(scope="session")
def node_modules() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if REQUIRE_NODE:
            pytest.fail("node and npm are required for the persisted-query clients")
        pytest.skip("node/npm not installed")
    if not (FOLDER / "node_modules" / "@urql" / "exchange-persisted").exists():
        asyncio.run(run("npm", "ci", "--no-audit", "--no-fund", "--silent"))
    return FOLDER / "node_modules"


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("client", ["apollo", "urql"])
async def test_first_run_misses_and_registers_then_the_hash_alone_hits(
    base_url: str, api_key: str, node_modules: Path, client: str, method: str
) -> None:
    flags = ["--get"] if method == "GET" else []
    output = await run("node", f"{client}.mjs", "--url", base_url, "--key", api_key, *flags)
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    assert report["results"] == [0, 0], report
    miss, register, hit = report["requests"]
    digest = miss["sha256Hash"]
    assert digest and len(digest) == 64
    # 1. The hash alone, by the configured method: unknown, so PersistedQueryNotFound
    # (400 under application/graphql-response+json, which both clients ask for).
    assert miss == {
        "method": method,
        "hasQuery": False,
        "sha256Hash": digest,
        "status": 400,
        "error": "PersistedQueryNotFound",
    }
    # 2. The retry with text and hash registers it (Apollo always retries with POST).
    assert register["hasQuery"] and register["sha256Hash"] == digest, report
    assert register["status"] == 200 and register["error"] is None, report
    assert register["method"] == ("POST" if client == "apollo" else method)
    # 3. The second run: the hash alone is enough now.
    assert hit == {
        "method": method,
        "hasQuery": False,
        "sha256Hash": digest,
        "status": 200,
        "error": None,
    }
