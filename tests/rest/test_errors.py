"""Every error status of the REST shim, provoked for real, with its whole body checked."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from db.keys import create_key, revoke_key
from db.records import Plan, Principal
from db.store import read_sql
from db.store.engine import Database
from graph.app import create_app
from graph.settings import Settings
from tests.rest.conftest import BASE, Rest, error
from tests.support.server import running_server

MISSING_KEY = "an API key is required: send 'Authorization: Bearer <key>'"
NOT_FOUND_ID = "sess_0123456789abcdef"


def invalid(message: str, field: str) -> dict[str, Any]:
    return error("invalid_input", message, field=field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/{NOT_FOUND_ID}"),
        ("PATCH", f"{BASE}/{NOT_FOUND_ID}"),
        ("DELETE", f"{BASE}/{NOT_FOUND_ID}"),
        ("POST", f"{BASE}/{NOT_FOUND_ID}/events"),
        ("GET", f"{BASE}/{NOT_FOUND_ID}/events"),
        ("GET", "/v1/unknown"),
    ],
)
async def test_401_without_a_key_on_every_path(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await http.request(method, path, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == error("unauthenticated", MISSING_KEY)


async def test_401_for_unknown_and_revoked_keys(
    rest: Rest, db: Database, principal: Principal
) -> None:
    wrong = await rest.http.get(BASE, headers={"Authorization": "Bearer sgk_" + "0" * 40})
    assert (wrong.status_code, wrong.json()) == (
        401,
        error("unauthenticated", "the API key is not valid or has been revoked"),
    )
    assert (await rest.get(BASE)).status_code == 200
    await revoke_key(db, principal.key_id)
    revoked = await rest.get(BASE)
    assert revoked.status_code == 401
    assert revoked.json() == error(
        "unauthenticated", "the API key is not valid or has been revoked"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"{",
            "the body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (b"", "the body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            b"\xff{}",
            "the body is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
        (b'{"prd": NaN}', "the body is not valid JSON: NaN is not JSON"),
        (b'{"prd": {"a": 1e400}}', "the body is not valid JSON: number 1e400 is out of range"),
        (b"[]", "the body must be a JSON object"),
        (b'"text"', "the body must be a JSON object"),
        (b"null", "the body must be a JSON object"),
    ],
)
async def test_400_for_bodies_that_are_not_json_objects(
    rest: Rest, content: bytes, message: str
) -> None:
    session = await rest.create()
    for method, path in (
        ("POST", BASE),
        ("PATCH", f"{BASE}/{session['id']}"),
        ("POST", f"{BASE}/{session['id']}/events"),
    ):
        response = await rest.request(
            method, path, content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (method, response.text)
        assert response.json() == error("malformed_json", message)


async def test_400_for_an_idempotency_key_over_255_characters(rest: Rest) -> None:
    session = await rest.create()
    for path in (BASE, f"{BASE}/{session['id']}/events"):
        response = await rest.post(
            path, json={"type": "info"}, headers={"Idempotency-Key": "k" * 256}
        )
        assert response.status_code == 400
        assert response.json() == error(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 characters",
            field="Idempotency-Key",
        )
    ok = await rest.post(BASE, json={}, headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 201


async def test_404_is_the_same_for_missing_and_malformed_ids(rest: Rest) -> None:
    for session_id in (NOT_FOUND_ID, "nope", "sess_XYZ"):
        message = f"session {session_id} not found"
        for method, path, body in (
            ("GET", f"{BASE}/{session_id}", None),
            ("PATCH", f"{BASE}/{session_id}", {"catalogVersion": "x"}),
            ("DELETE", f"{BASE}/{session_id}", None),
            ("POST", f"{BASE}/{session_id}/events", {"type": "info"}),
            ("GET", f"{BASE}/{session_id}/events", None),
        ):
            response = await rest.request(method, path, json=body)
            assert response.status_code == 404, (method, path)
            assert response.json() == error("not_found", message)


async def test_404_for_unknown_paths_under_v1(rest: Rest) -> None:
    for path in ("/v1/unknown", f"{BASE}/{NOT_FOUND_ID}/events/x/y"):
        response = await rest.get(path)
        assert (response.status_code, response.json()) == (
            404,
            error("not_found", "no such path in the REST API"),
        )


async def test_405_names_the_allowed_methods(rest: Rest) -> None:
    for path, allow in (
        (BASE, "GET, POST, HEAD, OPTIONS"),
        (f"{BASE}/{NOT_FOUND_ID}", "GET, PATCH, DELETE, HEAD, OPTIONS"),
        (f"{BASE}/{NOT_FOUND_ID}/events", "GET, POST, HEAD, OPTIONS"),
    ):
        response = await rest.request("PUT", path, json={})
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        assert response.json() == error(
            "method_not_allowed", f"PUT is not allowed here; allowed: {allow}"
        )


async def test_409_for_illegal_transitions_and_terminal_sessions(rest: Rest) -> None:
    session = await rest.create({"status": "assembling"})
    back = await rest.patch(f"{BASE}/{session['id']}", json={"status": "pending"})
    assert (back.status_code, back.json()) == (
        409,
        error("conflict", "status cannot move back from assembling to pending"),
    )
    done = await rest.create({"status": "completed"})
    frozen = await rest.patch(f"{BASE}/{done['id']}", json={"catalogVersion": "x"})
    assert (frozen.status_code, frozen.json()) == (
        409,
        error("conflict", "session is completed; a completed session cannot change"),
    )
    append = await rest.post(f"{BASE}/{done['id']}/events", json={"type": "info"})
    assert (append.status_code, append.json()) == (
        409,
        error("conflict", "session is completed; events cannot be appended to a completed session"),
    )


async def test_409_when_the_plan_allows_no_more_live_sessions(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = Plan(name="Tiny", max_sessions=1, max_requests_per_minute=60)
    _, key = await create_key(db, f"org_tiny_{id(plan)}", "user_t", plan=plan)
    rest = Rest(http, key)
    await rest.create()
    response = await rest.post(BASE, json={})
    assert response.status_code == 409
    assert response.json() == error(
        "limit_exceeded",
        "the organisation already has 1 live sessions and its plan's maxSessions is 1; "
        "finish, cancel or delete one first",
    )


async def test_412_for_a_stale_if_match_changes_nothing(rest: Rest) -> None:
    session = await rest.create({"catalogVersion": "v1"})
    path = f"{BASE}/{session['id']}"
    etag = (await rest.get(path)).headers["etag"]
    await rest.append(session["id"], {"type": "info"})  # the log moved on: the ETag is stale
    for stale in (etag, f"W/{etag}", '"other"'):
        response = await rest.patch(
            path, json={"catalogVersion": "v2"}, headers={"If-Match": stale}
        )
        assert response.status_code == 412
        assert response.json() == error(
            "precondition_failed", "the session changed since that ETag was issued"
        )
    current = await rest.get(path)
    assert current.json()["catalogVersion"] == "v1"
    fresh = current.headers["etag"]
    for form in ("{}", '"x", {}', "*"):
        header = form.format(fresh)
        ok = await rest.patch(path, json={"catalogVersion": "v3"}, headers={"If-Match": header})
        assert ok.status_code == 200, ok.text
        assert ok.headers["etag"] != fresh
        fresh = ok.headers["etag"]


async def test_413_past_the_configured_body_limit(db: Database, api_key: str) -> None:
    settings = Settings(database_url="unused", rest_max_body_bytes=64)
    async with (
        running_server(create_app(settings, database=db)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        rest = Rest(http, api_key)
        assert (await rest.post(BASE, json={"prd": {"a": "x" * 20}})).status_code == 201
        big = {"prd": {"a": "x" * 100}}
        response = await rest.post(BASE, json=big)
        assert response.status_code == 413
        assert response.json() == error(
            "payload_too_large", "the request body is larger than 64 bytes"
        )

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 10

        streamed = await rest.post(
            BASE, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert (await rest.get(BASE)).json()["data"].__len__() == 1


def test_default_body_limit_is_one_mebibyte() -> None:
    assert Settings().rest_max_body_bytes == 1_048_576
    assert Settings().idempotency_retention_seconds == 24 * 3600


async def test_415_unless_the_body_is_json(rest: Rest) -> None:
    session = await rest.create()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        for method, path in (
            ("POST", BASE),
            ("PATCH", f"{BASE}/{session['id']}"),
            ("POST", f"{BASE}/{session['id']}/events"),
        ):
            headers = {"Content-Type": content_type} if content_type else {}
            response = await rest.request(method, path, content=b"{}", headers=headers)
            assert response.status_code == 415
            assert response.json() == error(
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'",
            )
    charset = await rest.post(
        BASE, content=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert charset.status_code == 201


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"foo": 1}, invalid("foo is not a known field", "foo")),
        ({"assembly_state": {}}, invalid("assembly_state is not a known field", "assembly_state")),
        ({"plan": {}}, invalid("plan is set by the server and cannot be sent", "plan")),
        (
            {"productObjectHash": "x"},
            invalid(
                "productObjectHash is set by the server and cannot be sent", "productObjectHash"
            ),
        ),
        (
            {"status": "expired"},
            invalid(
                "status: Input should be 'pending', 'generating', 'assembling', 'completed', 'failed' or 'cancelled'",
                "status",
            ),
        ),
        (
            {"status": 1},
            invalid(
                "status: Input should be 'pending', 'generating', 'assembling', 'completed', 'failed' or 'cancelled'",
                "status",
            ),
        ),
        ({"prd": [1]}, invalid("prd: Input should be a valid dictionary", "prd")),
        (
            {"catalogVersion": ""},
            invalid("catalogVersion: String should have at least 1 character", "catalogVersion"),
        ),
        (
            {"catalogVersion": 5},
            invalid("catalogVersion: Input should be a valid string", "catalogVersion"),
        ),
        (
            {"schemaVersion": "a\u0000b"},
            invalid("schemaVersion: String should match pattern '^[^\\x00]*$'", "schemaVersion"),
        ),
        (
            {"prd": {"k": "a\u0000"}},
            invalid("prd must not contain the NUL character (U+0000)", "prd"),
        ),
        ({"prd": {"k": 2**64}}, invalid("prd holds a number outside -2^63..2^64-1", "prd")),
        (
            {"expiresAt": "2000-01-01T00:00:00Z"},
            invalid("expiresAt must be in the future", "expiresAt"),
        ),
        (
            {"expiresAt": "2999-01-01T00:00:00"},
            invalid(
                "expiresAt: Value error, timestamp must be RFC 3339 with a time zone, e.g. 2024-06-17T09:15:30Z",
                "expiresAt",
            ),
        ),
        (
            {"expiresAt": 1700000000},
            invalid(
                "expiresAt: Value error, must be an RFC 3339 timestamp string, e.g. 2024-06-17T09:15:30Z",
                "expiresAt",
            ),
        ),
    ],
)
async def test_422_on_create_names_the_field(
    rest: Rest, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = await rest.post(BASE, json=body)
    assert response.status_code == 422
    assert response.json() == expected
    assert (await rest.get(BASE)).json()["data"] == []


async def test_422_on_update_and_append(rest: Rest) -> None:
    session = await rest.create()
    path = f"{BASE}/{session['id']}"
    cases = [
        (
            "PATCH",
            path,
            {"status": None},
            invalid(
                "status: Input should be 'pending', 'generating', 'assembling', 'completed', 'failed', 'cancelled' or 'expired'",
                "status",
            ),
        ),
        (
            "PATCH",
            path,
            {"expiresAt": None},
            invalid(
                "expiresAt: Value error, must be an RFC 3339 timestamp string, e.g. 2024-06-17T09:15:30Z",
                "expiresAt",
            ),
        ),
        (
            "PATCH",
            path,
            {"events": []},
            invalid("events is set by the server and cannot be sent", "events"),
        ),
        ("POST", f"{path}/events", {}, invalid("type is required", "type")),
        (
            "POST",
            f"{path}/events",
            {"type": "INFO"},
            invalid("type: Input should be 'debug', 'info', 'warning' or 'error'", "type"),
        ),
        (
            "POST",
            f"{path}/events",
            {"type": "info", "sequence": 3},
            invalid("sequence is set by the server and cannot be sent", "sequence"),
        ),
        (
            "POST",
            f"{path}/events",
            {"type": "info", "stage": "s" * 256},
            invalid("stage: String should have at most 255 characters", "stage"),
        ),
        (
            "POST",
            f"{path}/events",
            {"type": "info", "payload": "x"},
            invalid("payload: Input should be a valid dictionary", "payload"),
        ),
    ]
    for method, url, body, expected in cases:
        response = await rest.request(method, url, json=body)
        assert (response.status_code, response.json()) == (422, expected), body
    assert (await rest.get(path)).json() == session


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "0"}, invalid("limit: Input should be greater than or equal to 1", "limit")),
        ({"limit": "101"}, invalid("limit: Input should be less than or equal to 100", "limit")),
        ({"limit": "-1"}, invalid("limit: Input should be greater than or equal to 1", "limit")),
        (
            {"limit": "abc"},
            invalid(
                "limit: Input should be a valid integer, unable to parse string as an integer",
                "limit",
            ),
        ),
        (
            {"limit": "1.5"},
            invalid(
                "limit: Input should be a valid integer, unable to parse string as an integer",
                "limit",
            ),
        ),
        ({"cursor": "forged"}, invalid("cursor is not a valid cursor", "cursor")),
        ({"cursor": "c2Vzc18xMjM0fHg"}, invalid("cursor is not a valid cursor", "cursor")),
        (
            {"userId": "a\x00"},
            invalid("userId: String should match pattern '^[^\\x00]*$'", "userId"),
        ),
        (
            {"status": "bogus"},
            invalid(
                "status.0: Input should be 'pending', 'generating', 'assembling', 'completed', 'failed', 'cancelled' or 'expired'",
                "status.0",
            ),
        ),
    ],
)
async def test_422_for_list_parameters(
    rest: Rest, params: dict[str, str], expected: dict[str, Any]
) -> None:
    response = await rest.get(BASE, params=params)
    assert (response.status_code, response.json()) == (422, expected)


async def test_422_for_event_page_parameters(rest: Rest) -> None:
    session = await rest.create()
    path = f"{BASE}/{session['id']}/events"
    for params, expected in (
        ({"after": "-1"}, invalid("after: Input should be greater than or equal to 0", "after")),
        (
            {"after": "x"},
            invalid(
                "after: Input should be a valid integer, unable to parse string as an integer",
                "after",
            ),
        ),
        ({"limit": "0"}, invalid("limit: Input should be greater than or equal to 1", "limit")),
        ({"limit": "101"}, invalid("limit: Input should be less than or equal to 100", "limit")),
    ):
        response = await rest.get(path, params=params)
        assert (response.status_code, response.json()) == (422, expected)


async def test_500_is_generic_and_its_id_is_logged_with_the_traceback(
    rest: Rest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("SELECT secret FROM somewhere failed")

    monkeypatch.setattr(read_sql, "read", broken)  # what the list handler calls
    with caplog.at_level(logging.ERROR, logger="sessiongraph.rest"):
        response = await rest.get(BASE)
    assert response.status_code == 500
    body = response.json()
    error_id = body["error"]["errorId"]
    assert error_id.startswith("err_")
    assert body == {
        "error": {
            "code": "internal",
            "message": f"Internal server error (error id {error_id})",
            "errorId": error_id,
        }
    }
    assert "SELECT" not in response.text and "Traceback" not in response.text
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None and "SELECT secret" in str(record.exc_info[1])


async def test_expired_session_reads_expired_and_refuses_changes(rest: Rest) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    session = await rest.create({"expiresAt": soon.isoformat()})
    path = f"{BASE}/{session['id']}"
    async with asyncio.timeout(10):
        for _ in range(100):
            if (await rest.get(path)).json()["status"] == "expired":
                break
            await asyncio.sleep(0.1)
    response = await rest.post(f"{path}/events", json={"type": "info"})
    assert (response.status_code, response.json()) == (
        409,
        error("conflict", "session is expired; events cannot be appended to a expired session"),
    )
    patch = await rest.patch(path, json={"catalogVersion": "x"})
    assert (patch.status_code, patch.json()) == (
        409,
        error("conflict", "session is expired; a expired session cannot change"),
    )
