"""Every REST path on success: whole bodies, in the reference page's shape and key order."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from db.clock import parse_rfc3339
from db.records import Principal
from db.sessions import product_object_hash
from tests.rest.conftest import BASE, EVENT_KEYS, SESSION_KEYS, Rest

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SESSION_ID = re.compile(r"^sess_[0-9a-f]{16}$")
EVENT_ID = re.compile(r"^evt_[0-9a-f]{16}$")

ASSEMBLY = {"step": "assembling", "progress": 75, "details": {"componentsCompleted": 3}}
PRD = {"productId": "prod_9876543210fedcba", "name": "AI Content Generator", "version": "1.3.0"}
PRODUCT = {"type": "text-generation", "config": {"maxTokens": 512, "language": "en"}}
PAYLOAD = {"inputParameters": {"model": "runtype-v1", "temperature": 0.7}}


def plan_of(principal: Principal) -> dict[str, Any]:
    return principal.plan.snapshot()


def expected_session(principal: Principal, body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The server's values for id and times (checked for form), the test's for the rest."""
    assert SESSION_ID.match(body["id"])
    for name in ("createdAt", "updatedAt", "expiresAt"):
        assert STAMP.match(body[name]), body[name]
    expected = {
        "assemblyState": None,
        "catalogVersion": None,
        "createdAt": body["createdAt"],
        "events": [],
        "expiresAt": body["expiresAt"],
        "id": body["id"],
        "organizationId": principal.organization_id,
        "plan": plan_of(principal),
        "prd": None,
        "productObject": None,
        "productObjectHash": None,
        "schemaVersion": None,
        "status": "pending",
        "updatedAt": body["updatedAt"],
        "userId": principal.user_id,
    }
    expected.update(fields)
    return expected


def expected_event(principal: Principal, body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    assert EVENT_ID.match(body["id"]) and STAMP.match(body["createdAt"])
    expected = {
        "createdAt": body["createdAt"],
        "id": body["id"],
        "message": None,
        "organizationId": principal.organization_id,
        "payload": None,
        "sequence": body["sequence"],
        "sessionId": body["sessionId"],
        "stage": None,
        "type": "info",
        "userId": principal.user_id,
    }
    expected.update(fields)
    return expected


async def test_create_returns_201_location_etag_and_the_session(
    rest: Rest, principal: Principal
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    request = {
        "status": "generating",
        "assemblyState": ASSEMBLY,
        "catalogVersion": "v2.4.1",
        "prd": PRD,
        "productObject": PRODUCT,
        "schemaVersion": "1.0.0",
        "expiresAt": expires.isoformat(),
    }
    response = await rest.post(BASE, json=request)
    assert response.status_code == 201
    body = response.json()
    assert list(body) == SESSION_KEYS
    assert body == expected_session(
        principal,
        body,
        status="generating",
        assemblyState=ASSEMBLY,
        catalogVersion="v2.4.1",
        prd=PRD,
        productObject=PRODUCT,
        productObjectHash=product_object_hash(PRODUCT),
        schemaVersion="1.0.0",
        expiresAt=expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    assert body["createdAt"] == body["updatedAt"]
    assert response.headers["location"] == f"{BASE}/{body['id']}"
    assert response.headers["etag"] == f'"{body["id"]}.1.0"'
    assert response.headers["content-type"] == "application/json"
    fetched = await rest.get(response.headers["location"])
    assert fetched.json() == body


async def test_empty_create_uses_the_defaults(rest: Rest, principal: Principal) -> None:
    body = await rest.create({"status": None, "expiresAt": None})
    assert body == expected_session(principal, body)
    created = parse_rfc3339(body["createdAt"])
    assert parse_rfc3339(body["expiresAt"]) - created == timedelta(days=7)


async def test_get_returns_the_reference_shape_with_ordered_events(
    rest: Rest, principal: Principal
) -> None:
    session = await rest.create({"status": "generating", "prd": PRD})
    first = await rest.append(
        session["id"],
        {
            "type": "info",
            "stage": "generating",
            "message": "Generation started",
            "payload": PAYLOAD,
        },
    )
    second = await rest.append(session["id"], {"type": "warning"})
    response = await rest.get(f"{BASE}/{session['id']}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == SESSION_KEYS
    assert [list(e) for e in body["events"]] == [EVENT_KEYS, EVENT_KEYS]
    assert body == expected_session(
        principal,
        session,
        status="generating",
        prd=PRD,
        events=[
            expected_event(
                principal,
                first,
                sequence=1,
                sessionId=session["id"],
                stage="generating",
                message="Generation started",
                payload=PAYLOAD,
            ),
            expected_event(principal, second, sequence=2, sessionId=session["id"], type="warning"),
        ],
    )
    assert response.headers["etag"] == f'"{session["id"]}.1.2"'


async def test_append_returns_201_and_the_event(rest: Rest, principal: Principal) -> None:
    session = await rest.create()
    response = await rest.post(
        f"{BASE}/{session['id']}/events",
        json={"type": "error", "stage": "assembling", "message": "boom", "payload": {"a": [1]}},
    )
    assert response.status_code == 201
    body = response.json()
    assert list(body) == EVENT_KEYS
    assert body == expected_event(
        principal,
        body,
        sequence=1,
        sessionId=session["id"],
        type="error",
        stage="assembling",
        message="boom",
        payload={"a": [1]},
    )


async def test_patch_keeps_omitted_clears_null_and_returns_the_session(
    rest: Rest, principal: Principal
) -> None:
    session = await rest.create({"catalogVersion": "v1", "prd": PRD, "productObject": PRODUCT})
    await rest.append(session["id"], {"type": "info"})
    response = await rest.patch(
        f"{BASE}/{session['id']}",
        json={"status": "assembling", "prd": None, "assemblyState": ASSEMBLY},
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == SESSION_KEYS
    event = body["events"][0]
    assert body == expected_session(
        principal,
        session,
        status="assembling",
        catalogVersion="v1",
        assemblyState=ASSEMBLY,
        productObject=PRODUCT,
        productObjectHash=product_object_hash(PRODUCT),
        updatedAt=body["updatedAt"],
        events=[expected_event(principal, event, sequence=1, sessionId=session["id"])],
    )
    assert body["updatedAt"] >= session["updatedAt"]
    assert response.headers["etag"] == f'"{session["id"]}.2.1"'
    assert (await rest.get(f"{BASE}/{session['id']}")).json() == body


async def test_delete_is_204_and_the_session_is_gone(rest: Rest) -> None:
    session = await rest.create()
    await rest.append(session["id"], {"type": "info"})
    response = await rest.delete(f"{BASE}/{session['id']}")
    assert (response.status_code, response.content) == (204, b"")
    assert (await rest.get(f"{BASE}/{session['id']}")).status_code == 404
    assert (await rest.get(f"{BASE}/{session['id']}/events")).status_code == 404
    assert (await rest.get(BASE)).json()["data"] == []


async def test_list_items_are_sessions_without_events(rest: Rest, principal: Principal) -> None:
    older = await rest.create({"prd": PRD})
    newer = await rest.create({"status": "generating"})
    await rest.append(newer["id"], {"type": "info"})
    response = await rest.get(BASE)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["data", "hasMore", "nextCursor"]
    keys = [k for k in SESSION_KEYS if k != "events"]
    assert [list(item) for item in body["data"]] == [keys, keys]

    def summary(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if k != "events"}

    assert body == {
        "data": [summary(newer), summary(older)],
        "hasMore": False,
        "nextCursor": None,
    }


async def test_list_filters_by_status_and_user(rest: Rest) -> None:
    pending = await rest.create()
    generating = await rest.create({"status": "generating"})
    failed = await rest.create({"status": "failed"})

    async def ids(params: Any) -> list[str]:
        response = await rest.get(BASE, params=params)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["data"]]

    assert await ids({"status": "generating"}) == [generating["id"]]
    assert await ids([("status", "pending"), ("status", "failed")]) == [
        failed["id"],
        pending["id"],
    ]
    assert await ids({"userId": pending["userId"]}) == [
        failed["id"],
        generating["id"],
        pending["id"],
    ]
    assert await ids({"userId": "someone_else"}) == []


async def test_list_pages_follow_next_cursor(rest: Rest) -> None:
    created = [await rest.create() for _ in range(3)]
    first = (await rest.get(BASE, params={"limit": 2})).json()
    assert [s["id"] for s in first["data"]] == [created[2]["id"], created[1]["id"]]
    assert first["hasMore"] is True and isinstance(first["nextCursor"], str)
    second = (await rest.get(BASE, params={"limit": 2, "cursor": first["nextCursor"]})).json()
    assert second == {
        "data": [{k: v for k, v in created[0].items() if k != "events"}],
        "hasMore": False,
        "nextCursor": None,
    }


async def test_events_page_after_a_sequence(rest: Rest, principal: Principal) -> None:
    session = await rest.create()
    events = [
        await rest.append(session["id"], {"type": "debug", "message": str(i)}) for i in range(5)
    ]
    response = await rest.get(f"{BASE}/{session['id']}/events", params={"after": 1, "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["data", "hasMore", "nextAfter"]
    assert body == {"data": events[1:3], "hasMore": True, "nextAfter": 3}
    rest_of_log = await rest.get(f"{BASE}/{session['id']}/events", params={"after": 3})
    assert rest_of_log.json() == {"data": events[3:], "hasMore": False, "nextAfter": None}
    everything = await rest.get(f"{BASE}/{session['id']}/events")
    assert everything.json() == {"data": events, "hasMore": False, "nextAfter": None}
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]


async def test_bare_key_and_trailing_slash_work(rest: Rest) -> None:
    session = await rest.create()
    response = await rest.http.get(f"{BASE}/", headers={"Authorization": rest.key})
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["data"]] == [session["id"]]


async def test_options_and_head(rest: Rest) -> None:
    session = await rest.create()
    options = await rest.request("OPTIONS", f"{BASE}/{session['id']}")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, PATCH, DELETE, HEAD, OPTIONS"
    head = await rest.request("HEAD", f"{BASE}/{session['id']}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == f'"{session["id"]}.1.0"'


REFERENCE = Path(__file__).with_name("reference_session.json")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


async def test_get_matches_the_reference_page_example_field_for_field(rest: Rest) -> None:
    """The example body of the published reference page, sent back through create and
    append, reads back with the same keys, order, nesting and JSON types."""
    reference = json.loads(REFERENCE.read_text())
    settable = ("assemblyState", "catalogVersion", "prd", "productObject", "schemaVersion")
    session = await rest.create(
        {"status": reference["status"], **{k: reference[k] for k in settable}}
    )
    sent = reference["events"][0]
    await rest.append(session["id"], {k: sent[k] for k in ("type", "stage", "message", "payload")})
    body = (await rest.get(f"{BASE}/{session['id']}")).json()

    assert list(body) == list(reference)
    assert {k: _kind(v) for k, v in body.items()} == {k: _kind(v) for k, v in reference.items()}
    [event] = body["events"]
    assert [k for k in event if k != "sequence"] == list(sent)
    assert {k: _kind(event[k]) for k in sent} == {k: _kind(v) for k, v in sent.items()}
    assert event["sequence"] == 1
    for name in settable:
        assert body[name] == reference[name]
    assert {k: event[k] for k in ("type", "stage", "message", "payload")} == {
        k: sent[k] for k in ("type", "stage", "message", "payload")
    }
    assert list(body["plan"]) == list(reference["plan"])
    assert list(body["plan"]["limits"]) == list(reference["plan"]["limits"])
