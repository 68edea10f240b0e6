"""Node.js clients under test: their packages installed from a lock file, their runs bounded.

CI installs Node's packages from the npm registry (`npm ci`, pinned by each folder's
package-lock.json); where Node is missing the tests skip, unless CI requires them. The
helpers themselves are the bench's (bench/node.py), shared so there is one copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import node
from bench.node import run

__all__ = ["REQUIRE_NODE", "installed", "run"]

REQUIRE_NODE = os.environ.get("SESSIONGRAPH_REQUIRE_BROWSER", "") not in ("", "0")


def installed(folder: Path, *packages: str, purpose: str) -> Path:
    """`folder`'s node_modules, running `npm ci` there when any of `packages` is missing."""
    reason = node.missing()
    if reason is not None:
        if REQUIRE_NODE:
            pytest.fail(f"node and npm are required for {purpose}")
        pytest.skip(f"node/npm: {reason}")
    return node.install(folder, *packages)
