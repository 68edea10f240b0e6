"""Plans: `maxSessions` under a race, plan changes from the CLI, snapshots kept as created."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from db.keys import list_plans, set_plan
from db.store.engine import Database
from tests.conftest import new_key, unique
from tests.support.graphql import GraphQLClient

CREATE = "mutation { createSession(input: {}) { id plan } }"


async def test_twenty_concurrent_creates_against_five(gql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    await set_plan(db, principal.organization_id, max_sessions=5)
    bodies = await asyncio.gather(*(gql(CREATE, key=key) for _ in range(20)))
    created = [b for b in bodies if b.get("data")]
    refused = [b for b in bodies if b.get("errors")]
    assert len(created) == 5
    assert len(refused) == 15
    for body in refused:
        [error] = body["errors"]
        assert error["extensions"]["code"] == "CONFLICT"
        assert error["extensions"]["reason"] == "MAX_SESSIONS"
        assert "maxSessions is 5" in error["message"]
    count = await gql.data("{ sessions { totalCount } }", key=key)
    assert count["sessions"]["totalCount"] == 5


async def test_sessions_keep_their_plan_snapshot(gql: GraphQLClient, db: Database) -> None:
    principal, key = await new_key(db)
    before = (await gql.data(CREATE, key=key))["createSession"]
    await set_plan(
        db, principal.organization_id, name="Pro", max_sessions=50, max_requests_per_minute=900
    )
    after = (await gql.data(CREATE, key=key))["createSession"]
    assert before["plan"] == {
        "name": "Standard",
        "limits": {"maxSessions": 1000, "maxRequestsPerMinute": 600},
    }
    assert after["plan"] == {
        "name": "Pro",
        "limits": {"maxSessions": 50, "maxRequestsPerMinute": 900},
    }
    reread = await gql.data(
        "query($id: ID!) { session(id: $id) { plan } }", {"id": before["id"]}, key=key
    )
    assert reread["session"]["plan"] == before["plan"]


async def test_set_plan_validates(db: Database) -> None:
    from db.errors import InvalidInput

    for bad in (0, -1, True):
        with pytest.raises(InvalidInput):
            await set_plan(db, unique("org"), max_sessions=bad)
    with pytest.raises(InvalidInput):
        await set_plan(db, unique("org"), name="")


@pytest.mark.timeout(90)
async def test_plans_cli(database_url: str, db: Database, tmp_path: Path) -> None:
    env = {**os.environ, "SESSIONGRAPH_DATABASE_URL": database_url}
    org = unique("org")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "graph", "plans", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = await asyncio.to_thread(
        run, "set", "--org", org, "--name", "Team", "--max-sessions", "7",
        "--max-requests-per-minute", "120",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{org}  Team  maxSessions=7  maxRequestsPerMinute=120" in done.stdout
    [(_, plan)] = await list_plans(db, org)
    assert (plan.name, plan.max_sessions, plan.max_requests_per_minute) == ("Team", 7, 120)

    partial = await asyncio.to_thread(run, "set", "--org", org, "--max-sessions", "9")
    assert partial.returncode == 0, partial.stderr
    shown = await asyncio.to_thread(run, "show", "--org", org)
    assert shown.stdout.strip() == f"{org}  Team  maxSessions=9  maxRequestsPerMinute=120"

    everything = await asyncio.to_thread(run, "show")
    assert f"{org}  Team" in everything.stdout

    bad = await asyncio.to_thread(run, "set", "--org", org, "--max-sessions", "0")
    assert bad.returncode == 1 and "maxSessions must be" in bad.stderr
    missing = await asyncio.to_thread(run, "show", "--org", unique("org"))
    assert missing.returncode == 1 and "not found" in missing.stderr
