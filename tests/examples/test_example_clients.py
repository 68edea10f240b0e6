"""The example clients in examples/ run against a real server: query, append, subscribe."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.support.node import installed, run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.timeout(180)


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
    return installed(EXAMPLES / "javascript", "graphql-ws", purpose="the JavaScript example")


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
