"""Node.js helpers: find node and npm, install a folder's locked packages, run a command.

A folder's packages are pinned by its package-lock.json and installed there with `npm ci`
when any of the packages asked for is missing. Used by the bench (PostGraphile, its peer)
and by the tests' Node clients (tests/support/node.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path


class NodeCommandFailed(RuntimeError):
    """A Node or npm command exited with a status other than 0."""


def missing() -> str | None:
    """Why Node can't be used here, or None when both `node` and `npm` are on PATH."""
    absent = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(absent)} not installed" if absent else None


async def run(
    *command: str, cwd: Path, env: dict[str, str] | None = None, within: float = 180
) -> str:
    """The command's output (stdout and stderr); it must exit 0 within `within` seconds."""
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
    if process.returncode != 0:
        raise NodeCommandFailed(f"{' '.join(command)} exited with {process.returncode}:\n{text}")
    return text


def install(folder: Path, *packages: str, within: float = 300) -> Path:
    """`folder`'s node_modules, running `npm ci` there when any of `packages` is missing
    (blocking: callable with or without an event loop running)."""
    modules = folder / "node_modules"
    if not all((modules / package / "package.json").exists() for package in packages):
        command = ["npm", "ci", "--no-audit", "--no-fund", "--silent"]
        done = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=within, check=False
        )
        if done.returncode != 0:
            raise NodeCommandFailed(
                f"{' '.join(command)} in {folder} exited with {done.returncode}:\n"
                + done.stdout
                + done.stderr
            )
    return modules
