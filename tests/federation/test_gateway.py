"""sessiongraph composed into a real Apollo Gateway (npm `@apollo/gateway`), queried through it.

The gateway composes the subgraph SDL from `_service { sdl }` with a second, tiny
subgraph whose `Label.session` holds only a session id: reading a label's session
makes the gateway call sessiongraph's `_entities`. The client's API key is forwarded to
the subgraphs, so the tenant rules hold through the gateway too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.conftest import new_key
from tests.support.node import installed
from tests.support.server import running_server
from tests.support.sessions import append, new_session

GATEWAY = Path(__file__).resolve().parent / "gateway"
READY = re.compile(r"gateway ready at (\S+)")

pytestmark = pytest.mark.timeout(240)

SESSION = "query($id: ID!) { session(id: $id) { id status events { nodes { sequence } } } }"
LABEL = """
query($id: ID!) {
  label(sessionId: $id) { text session { id status events { nodes { sequence } } } }
}
"""


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return installed(GATEWAY, "@apollo/gateway", purpose="the federation gateway test")


@pytest.fixture
async def subgraph_url(settings: Settings, db: Database) -> AsyncIterator[str]:
    app = create_app(settings.model_copy(update={"federation": True}), database=db)
    async with running_server(app) as url:
        yield f"{url}/graphql"


@pytest.fixture
async def gateway(
    node_modules: Path, subgraph_url: str, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway composes with a key of an organisation of its own, seeing nothing."""
    _, composition_key = await new_key(db)
    process = await asyncio.create_subprocess_exec(
        "node",
        "gateway.mjs",
        "--subgraph",
        subgraph_url,
        "--key",
        composition_key,
        cwd=GATEWAY,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        url = await asyncio.wait_for(_ready_url(process.stdout), timeout=60)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _ready_url(stdout: asyncio.StreamReader) -> str:
    seen = []
    while line := (await stdout.readline()).decode():
        seen.append(line)
        found = READY.search(line)
        if found:
            return found.group(1)
    raise AssertionError("the gateway stopped before it was ready:\n" + "".join(seen))


async def through(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], key: str | None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    response = await client.post(
        "/", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def test_session_through_the_gateway(
    gateway: httpx.AsyncClient, db: Database, principal: Principal, api_key: str
) -> None:
    own = await new_session(db, principal, status="assembling")
    await append(db, principal, own, 3)
    expected = {
        "id": own,
        "status": "ASSEMBLING",
        "events": {"nodes": [{"sequence": 1}, {"sequence": 2}, {"sequence": 3}]},
    }

    body = await through(gateway, SESSION, {"id": own}, api_key)
    assert body == {"data": {"session": expected}}, body

    # Entity resolution: the labels subgraph holds only the id; `_entities` does the rest.
    body = await through(gateway, LABEL, {"id": own}, api_key)
    assert body == {"data": {"label": {"text": f"label of {own}", "session": expected}}}, body


async def test_gateway_forwards_each_clients_key(
    gateway: httpx.AsyncClient, db: Database, principal: Principal
) -> None:
    own = await new_session(db, principal)
    _, other_key = await new_key(db)

    body = await through(gateway, SESSION, {"id": own}, other_key)
    assert body == {"data": {"session": None}}, body
    body = await through(gateway, LABEL, {"id": own}, other_key)
    assert body["data"]["label"]["session"] is None, body
    assert "errors" not in body, body

    # No key, or a bad one: the subgraph answers 401 and the gateway reports it, both for
    # a root field and for the `_entities` fetch behind a label's session.
    for query, key in ((SESSION, None), (LABEL, "sg_not_a_key")):
        body = await through(gateway, query, {"id": own}, key)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", body
        assert error["extensions"]["response"]["status"] == 401, body
        assert "status" not in str(body.get("data")), body
