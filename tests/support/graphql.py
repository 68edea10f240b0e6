"""A tiny GraphQL client over httpx that returns the whole response body."""

from __future__ import annotations

from typing import Any

import httpx


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, key: str | None) -> None:
        self.http = http
        self.key = key

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = key if key is not None else self.key
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=self.headers(key))

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        """The parsed body of a request that must have been answered with HTTP 200."""
        response = await self.post(query, variables, key=key)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        body = await self(query, variables, key=key)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data
