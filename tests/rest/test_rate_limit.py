"""The REST door shares the organisation's per-minute budget and answers 429 in its own shape."""

from __future__ import annotations

import httpx

from db.keys import set_plan
from db.records import Principal
from db.store.engine import Database
from graph.ops.metrics import RATE_LIMITED

SESSIONS = "/v1/products/generation/sessions"


async def test_rest_requests_beyond_the_plan_get_429(
    http: httpx.AsyncClient, db: Database, principal: Principal, api_key: str
) -> None:
    await set_plan(db, principal.organization_id, max_requests_per_minute=3)
    headers = {"Authorization": f"Bearer {api_key}"}
    refused_before = RATE_LIMITED._value.get()
    answers = [await http.get(SESSIONS, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60
    assert refused.json() == {
        "error": {
            "code": "rate_limited",
            "message": f"the organisation's plan allows 3 requests per minute; retry after {wait} s",
        }
    }
    assert refused.headers["ratelimit-policy"] == '"org-per-minute";q=3;w=60'
    assert answers[0].headers["ratelimit"].startswith('"org-per-minute";r=2;')
    assert RATE_LIMITED._value.get() == refused_before + 1
