"""Trusted documents against a real server, on both databases: named by id or hash over
HTTP and WebSocket, and in trusted-only mode every other document refused on both."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.records import Principal
from db.store.engine import Database
from graph.app import create_app
from graph.plan.persisted import sha256_hex
from graph.settings import Settings
from tests.support.server import running_server
from tests.support.sessions import append, new_session
from tests.support.ws import EVENTS, LEGACY, TRANSPORT, Socket, socket

pytestmark = pytest.mark.timeout(60)

COUNT = "query Count { sessions(first: 1) { totalCount } }"
RELAY_ID = "9f86d081884c7d659a2feaa0c55ad015"  # Relay names documents by its own ids
START = {TRANSPORT: "subscribe", LEGACY: "start"}
UNTRUSTED = "{ __typename }"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """Code Generator's entries (keyed by SHA-256) and a Relay entry in one file."""
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256_hex(COUNT): COUNT, RELAY_ID: EVENTS}))
    return path


@pytest.fixture(params=["explicit", "production"])
async def trusted_url(
    request: pytest.FixtureRequest, database_url: str, db: Database, manifest: Path
) -> AsyncIterator[str]:
    """Trusted-only by its setting, or by the production profile's default."""
    if request.param == "explicit":
        settings = Settings(
            database_url=database_url,
            auto_migrate=False,
            trusted_documents=str(manifest),
            trusted_documents_only=True,
        )
    else:
        settings = Settings(
            database_url=database_url,
            auto_migrate=False,
            env="production",
            trusted_documents=str(manifest),
        )
    async with running_server(create_app(settings, database=db)) as url:
        yield url


async def post(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {key}"})


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(text)}}


async def reply(ws: Socket, op_id: str) -> dict[str, Any]:
    """The next message about `op_id` (the legacy protocol sends `ka` in between)."""
    while True:
        message = await ws.recv()
        if message.get("id") == op_id:
            return message


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
    assert "only trusted documents" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"documentId": f"sha256:{sha256_hex(COUNT)}"},
        {"documentId": sha256_hex(COUNT)},
        {"doc_id": sha256_hex(COUNT)},
        {"extensions": apq(COUNT)},
        {"query": COUNT},  # the full text of a trusted document runs too
        {"query": COUNT, "extensions": apq(COUNT)},
    ],
)
async def test_trusted_documents_run(trusted_url: str, api_key: str, body: dict[str, Any]) -> None:
    response = await post(trusted_url, api_key, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"sessions": {"totalCount": 0}}}


@pytest.mark.parametrize("name", ["documentId", "doc_id"])
async def test_trusted_document_over_get(trusted_url: str, api_key: str, name: str) -> None:
    async with httpx.AsyncClient(base_url=trusted_url, timeout=30) as http:
        response = await http.get(
            "/graphql",
            params={name: f"sha256:{sha256_hex(COUNT)}"},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"sessions": {"totalCount": 0}}}


async def test_other_documents_and_registration_are_refused(trusted_url: str, api_key: str) -> None:
    assert_refused(await post(trusted_url, api_key, {"query": UNTRUSTED}))
    assert_refused(
        await post(trusted_url, api_key, {"query": UNTRUSTED, "extensions": apq(UNTRUSTED)})
    )
    # An unknown hash is a miss, as for APQ; the client's retry with the text is refused.
    missed = await post(trusted_url, api_key, {"extensions": apq(UNTRUSTED)})
    assert missed.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    unknown = await post(trusted_url, api_key, {"documentId": "nope"})
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_websocket_refuses_other_documents(
    trusted_url: str, api_key: str, protocol: str
) -> None:
    async with socket(trusted_url, subprotocols=[protocol]) as ws:
        assert (await ws.init(api_key))["type"] == "connection_ack"
        for payload in ({"query": UNTRUSTED}, {"query": UNTRUSTED, "extensions": apq(UNTRUSTED)}):
            await ws.send({"id": "1", "type": START[protocol], "payload": payload})
            message = await reply(ws, "1")
            assert message["type"] == "error", message
            errors = message["payload"] if protocol == TRANSPORT else [message["payload"]]
            assert errors[0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
@pytest.mark.parametrize(
    "naming",
    [{"documentId": RELAY_ID}, {"extensions": apq(EVENTS)}, {"query": EVENTS}],
    ids=["documentId", "persistedQuery", "full text"],
)
async def test_websocket_runs_trusted_documents(
    trusted_url: str,
    api_key: str,
    db: Database,
    principal: Principal,
    protocol: str,
    naming: dict[str, Any],
) -> None:
    session_id = await new_session(db, principal)
    await append(db, principal, session_id, 2)
    async with socket(trusted_url, subprotocols=[protocol]) as ws:
        assert (await ws.init(api_key))["type"] == "connection_ack"
        payload = {**naming, "variables": {"s": session_id}}
        await ws.send({"id": "1", "type": START[protocol], "payload": payload})
        sequences: list[int] = []
        while len(sequences) < 2:
            message = await ws.recv()
            if message.get("id") == "1":
                assert message["type"] in ("next", "data"), message
                sequences.append(message["payload"]["data"]["sessionEvents"]["sequence"])
    assert sequences == [1, 2]


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
async def test_websocket_apq_without_a_manifest(
    base_url: str, api_key: str, db: Database, principal: Principal, protocol: str
) -> None:
    """A document registered over HTTP is named by hash over WebSocket; an unknown one
    answers the operation with `PersistedQueryNotFound` and the socket stays open."""
    session_id = await new_session(db, principal)
    await append(db, principal, session_id)
    text = EVENTS + " # ws " + protocol
    async with socket(base_url, subprotocols=[protocol]) as ws:
        assert (await ws.init(api_key))["type"] == "connection_ack"
        payload = {"extensions": apq(text), "variables": {"s": session_id}}
        await ws.send({"id": "1", "type": START[protocol], "payload": payload})
        missed = await reply(ws, "1")
        assert missed["type"] == "error", missed
        errors = missed["payload"] if protocol == TRANSPORT else [missed["payload"]]
        assert errors[0]["message"] == "PersistedQueryNotFound"
        await ws.send({"id": "2", "type": START[protocol], "payload": {**payload, "query": text}})
        await ws.send({"id": "3", "type": START[protocol], "payload": payload})
        seen: dict[str, int] = {}
        while len(seen) < 2:
            message = await ws.recv()
            if message.get("id") in ("2", "3") and message["type"] in ("next", "data"):
                seen[message["id"]] = message["payload"]["data"]["sessionEvents"]["sequence"]
    assert seen == {"2": 1, "3": 1}
