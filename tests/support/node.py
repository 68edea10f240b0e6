"""Node.js clients under test: their packages installed from a lock file, their runs bounded.

CI installs Node's packages from the npm registry (`npm ci`, pinned by each folder's
package-lock.json); where Node is missing the tests skip, unless CI requires them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

REQUIRE_NODE = os.environ.get("SESSIONGRAPH_REQUIRE_BROWSER", "") not in ("", "0")


async def run(
    *command: str, cwd: Path, env: dict[str, str] | None = None, within: float = 180
) -> str:
    """The command's output; it must exit 0 within `within` seconds."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode()
    assert process.returncode == 0, text
    return text


def installed(folder: Path, *packages: str, purpose: str) -> Path:
    """`folder`'s node_modules, running `npm ci` there when any of `packages` is missing."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        if REQUIRE_NODE:
            pytest.fail(f"node and npm are required for {purpose}")
        pytest.skip("node/npm not installed")
    modules = folder / "node_modules"
    if not all((modules / package / "package.json").exists() for package in packages):
        asyncio.run(run("npm", "ci", "--no-audit", "--no-fund", "--silent", cwd=folder, within=300))
    return modules
