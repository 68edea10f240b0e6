"""A GraphQL client nobody here wrote (gql, with its WebSocket transport) on both protocols."""

from __future__ import annotations

import asyncio

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from db.records import Principal
from db.store.engine import Database
from tests.support.sessions import append, new_session
from tests.support.ws import ws_url

pytestmark = pytest.mark.timeout(60)

WATCH = "subscription($s: ID!) { sessionEvents(sessionId: $s, afterSequence: 1) { sequence } }"
COUNT = "query($s: ID!) { session(id: $s) { eventCount } }"


@pytest.mark.parametrize(
    "protocol",
    [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL],
)
async def test_gql_client_subscribes_and_queries(
    protocol: str, base_url: str, api_key: str, db: Database, principal: Principal
) -> None:
    session = await new_session(db, principal)
    await append(db, principal, session, 2)
    transport = WebsocketsTransport(
        url=ws_url(base_url),
        init_payload={"Authorization": f"Bearer {api_key}"},
        subprotocols=[protocol],
    )
    async with Client(transport=transport) as session_client:
        writer = asyncio.create_task(_later(db, principal, session))
        seen = []
        async for result in session_client.subscribe(
            GraphQLRequest(WATCH, variable_values={"s": session})
        ):
            seen.append(result["sessionEvents"]["sequence"])
            if len(seen) == 3:
                break
        await writer
        counted = await session_client.execute(
            GraphQLRequest(COUNT, variable_values={"s": session})
        )
    assert seen == [2, 3, 4]
    assert counted == {"session": {"eventCount": 4}}


async def _later(db: Database, principal: Principal, session: str) -> None:
    await asyncio.sleep(0.2)
    await append(db, principal, session, 2)
