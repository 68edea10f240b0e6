"""`/graphql` follows the GraphQL-over-HTTP specification: media types, statuses, limits, CSRF."""

from __future__ import annotations

import httpx
import pytest

from graph.http.request import response_media_type

GQL_RESPONSE = "application/graphql-response+json"
QUERY = "{ sessions { totalCount } }"


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GQL_RESPONSE, GQL_RESPONSE),
        (f"{GQL_RESPONSE}, application/json;q=0.9", GQL_RESPONSE),
        (f"application/json, {GQL_RESPONSE};q=0.5", "application/json"),
        ("application/*", "application/json"),
        ("text/html", None),
        ("application/json;q=0", None),
    ],
)
def test_accept_negotiation(accept: str | None, expected: str | None) -> None:
    assert response_media_type(accept) == expected


async def test_response_media_type_follows_accept(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for accept, media in ((GQL_RESPONSE, GQL_RESPONSE), ("application/json", "application/json")):
        response = await http.post(
            "/graphql", json={"query": QUERY}, headers={**auth, "Accept": accept}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == media
        assert response.json() == {"data": {"sessions": {"totalCount": 0}}}
    refused = await http.post(
        "/graphql", json={"query": QUERY}, headers={**auth, "Accept": "image/png"}
    )
    assert refused.status_code == 406


@pytest.mark.parametrize(
    ("body", "variables"),
    [
        ({"query": "{ sessions {"}, None),
        ({"query": "{ nosuchfield }"}, None),
        ({"query": "query($n: Int!) { sessions(first: $n) { totalCount } }"}, {"n": "many"}),
    ],
)
async def test_request_errors_by_media_type(
    http: httpx.AsyncClient, auth: dict[str, str], body: dict[str, str], variables: object
) -> None:
    payload = {**body, "variables": variables}
    strict = await http.post("/graphql", json=payload, headers={**auth, "Accept": GQL_RESPONSE})
    assert strict.status_code == 400
    assert "data" not in strict.json()
    assert strict.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    legacy = await http.post(
        "/graphql", json=payload, headers={**auth, "Accept": "application/json"}
    )
    assert legacy.status_code == 200
    assert "data" not in legacy.json() and legacy.json()["errors"]


async def test_field_errors_keep_200_and_data(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await http.post(
        "/graphql",
        json={"query": '{ sessions(after: "forged") { totalCount } }'},
        headers={**auth, "Accept": GQL_RESPONSE},
    )
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["path"] == ["sessions"]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"query": 5}', "application/json", 400),
        (b'{"query": "{ sessions { totalCount } }", "variables": [1]}', "application/json", 400),
        (b'{"query": "{ sessions { totalCount } }"}', "application/json; charset=latin-1", 415),
    ],
)
async def test_malformed_http_requests(
    http: httpx.AsyncClient, auth: dict[str, str], content: bytes, content_type: str, status: int
) -> None:
    response = await http.post(
        "/graphql", content=content, headers={**auth, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_requests_a_browser_sends_cross_site_without_preflight_are_refused(
    http: httpx.AsyncClient, auth: dict[str, str], content_type: str | None
) -> None:
    mutation = '{"query": "mutation { createSession(input: {}) { id } }"}'
    headers = dict(auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await http.post("/graphql", content=mutation.encode(), headers=headers)
    assert response.status_code == 415
    count = await http.post("/graphql", json={"query": QUERY}, headers=auth)
    assert count.json() == {"data": {"sessions": {"totalCount": 0}}}


async def test_mutations_over_get_are_405_with_allow(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await http.get(
        "/graphql", params={"query": "mutation { createSession(input: {}) { id } }"}, headers=auth
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    count = await http.get("/graphql", params={"query": QUERY}, headers=auth)
    assert count.json() == {"data": {"sessions": {"totalCount": 0}}}


async def test_get_takes_json_variables(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    query = "query($n: Int) { sessions(first: $n) { totalCount } }"
    ok = await http.get("/graphql", params={"query": query, "variables": '{"n": 2}'}, headers=auth)
    assert ok.json() == {"data": {"sessions": {"totalCount": 0}}}
    bad = await http.get("/graphql", params={"query": query, "variables": "{"}, headers=auth)
    assert bad.status_code == 400


async def test_bodies_over_the_limit_are_413(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    big = {
        "query": "mutation($p: JSON) { createSession(input: {prd: $p}) { id } }",
        "variables": {"p": {"text": "x" * (5 * 1024 * 1024)}},
    }
    response = await http.post("/graphql", json=big, headers=auth)
    assert response.status_code == 413

    async def chunks():  # no Content-Length: the limit holds while streaming too
        yield b'{"query": "{ sessions { totalCount } }", "pad": "'
        for _ in range(5 * 1024):
            yield b"x" * 1024
        yield b'"}'

    streamed = await http.post(
        "/graphql", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    count = await http.post("/graphql", json={"query": QUERY}, headers=auth)
    assert count.json() == {"data": {"sessions": {"totalCount": 0}}}


async def test_other_methods_are_405(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await http.put("/graphql", json={"query": QUERY}, headers=auth)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
