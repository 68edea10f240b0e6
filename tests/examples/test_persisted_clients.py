"""Apollo Client 4 and urql speak automatic persisted queries with a real server.

examples/persisted/ runs each client under Node with a fetch that records every request;
its npm packages are pinned in package-lock.json and installed there with `npm ci` on
first use. Each run must go: hash only (miss), text and hash (registered), hash only (hit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.node import installed, run

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "persisted"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return installed(
        FOLDER, "@apollo/client", "@urql/exchange-persisted", purpose="the persisted-query clients"
    )


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("client", ["apollo", "urql"])
async def test_first_run_misses_and_registers_then_the_hash_alone_hits(
    base_url: str, api_key: str, node_modules: Path, client: str, method: str
) -> None:
    flags = ["--get"] if method == "GET" else []
    output = await run(
        "node", f"{client}.mjs", "--url", base_url, "--key", api_key, *flags, cwd=FOLDER
    )
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
