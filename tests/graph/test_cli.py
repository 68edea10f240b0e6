"""The `sessiongraph` command as operators use it, run as a real subprocess."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from graph.schema.build import printed_schema

pytestmark = pytest.mark.timeout(90)


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graph", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "SESSIONGRAPH_DATABASE_URL": database_url}


def test_keys_create_list_revoke(env: dict[str, str], tmp_path: Path) -> None:
    created = run(["keys", "create", "--org", "org_cli", "--user", "user_cli"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sgk_[0-9a-f]{40}", key)
    key_id = re.search(r"key_[0-9a-f]{16}", created.stdout)
    assert key_id is not None
    listed = run(["keys", "list"], env, tmp_path)
    assert listed.returncode == 0
    line = next(row for row in listed.stdout.splitlines() if row.startswith(key_id.group()))
    assert (
        "org_cli" in line and "user_cli" in line and "active" in line and key not in listed.stdout
    )
    revoked = run(["keys", "revoke", key_id.group()], env, tmp_path)
    assert revoked.returncode == 0 and key_id.group() in revoked.stdout
    relisted = run(["keys", "list"], env, tmp_path).stdout.splitlines()
    assert "revoked" in next(row for row in relisted if row.startswith(key_id.group()))
    missing = run(["keys", "revoke", "key_0000000000000000"], env, tmp_path)
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = run(["keys", "create", "--org", "", "--user", "u"], env, tmp_path)
    assert bad.returncode == 1 and "org must be" in bad.stderr


def test_export_schema_and_migrate(env: dict[str, str], tmp_path: Path) -> None:
    exported = run(["export-schema", str(tmp_path / "out.graphql")], env, tmp_path)
    assert exported.returncode == 0
    assert (tmp_path / "out.graphql").read_text() == printed_schema()
    default = run(["export-schema"], env, tmp_path)
    assert default.returncode == 0 and (tmp_path / "schema.graphql").read_text() == printed_schema()
    migrated = run(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr


def test_bad_configuration_is_reported(tmp_path: Path) -> None:
    env = {**os.environ, "SESSIONGRAPH_PORT": "not-a-port"}
    result = run(["migrate"], env, tmp_path)
    assert result.returncode == 2 and "invalid configuration" in result.stderr
    env = {**os.environ, "SESSIONGRAPH_DATABASE_URL": "mysql://x@localhost/db"}
    result = run(["migrate"], env, tmp_path)
    assert result.returncode != 0 and "unsupported database URL" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_on_an_empty_database_prints_a_working_dev_key(tmp_path: Path) -> None:
    """A new user's first run: the default SQLite file in the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONGRAPH_")}
    port = _free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "graph", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            _check_first_run(process, port, tmp_path)
        finally:
            process.terminate()
            process.wait(timeout=20)


def _check_first_run(process: subprocess.Popen[str], port: int, tmp_path: Path) -> None:
    assert process.stdout is not None
    lines = []
    key = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and key is None:
        line = process.stdout.readline()
        lines.append(line)
        found = re.search(r"Bearer (sgk_[0-9a-f]{40})", line)
        key = found.group(1) if found else None
    assert key is not None, "".join(lines)
    output = "".join(lines)
    assert f"http://127.0.0.1:{port}/graphql" in output and "DEVELOPMENT API key" in output
    assert (tmp_path / "sessiongraph.db").exists()
    body = None
    while time.monotonic() < deadline:
        try:
            response = httpx.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "mutation { createSession(input: {}) { status userId } }"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            )
            body = response.json()
            break
        except httpx.TransportError:
            time.sleep(0.1)
    assert body == {"data": {"createSession": {"status": "PENDING", "userId": "user_dev"}}}
