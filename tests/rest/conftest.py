"""REST test helpers: a client that sends the key, and the reference page's field lists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BASE = "/v1/products/generation/sessions"

# The reference page's keys, in its (alphabetical) order.
SESSION_KEYS = [
    "assemblyState",
    "catalogVersion",
    "createdAt",
    "events",
    "expiresAt",
    "id",
    "organizationId",
    "plan",
    "prd",
    "productObject",
    "productObjectHash",
    "schemaVersion",
    "status",
    "updatedAt",
    "userId",
]
EVENT_KEYS = [
    "createdAt",
    "id",
    "message",
    "organizationId",
    "payload",
    "sequence",
    "sessionId",
    "stage",
    "type",
    "userId",
]


class Rest:
    """httpx with the API key already in the headers."""

    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.key = key

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    async def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.http.request(method, path, headers=self.headers(headers), **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    async def create(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(BASE, json=body or {})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def append(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.post(f"{BASE}/{session_id}/events", json=body)
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        return event


@pytest.fixture
def rest(http: httpx.AsyncClient, api_key: str) -> Rest:
    return Rest(http, api_key)


def error(code: str, message: str, **extra: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}
