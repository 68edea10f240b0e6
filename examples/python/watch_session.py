"""Query, append and subscribe with the `gql` client library.

    pip install 'gql[websockets,httpx]'
    python watch_session.py --url http://127.0.0.1:8000 --key sgk_...

Creates a session, starts watching its events over WebSocket (graphql-transport-ws),
appends a few events over HTTP, completes the session, and prints what arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from gql import Client, gql
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

CREATE = gql("mutation { createSession(input: {status: GENERATING}) { id status } }")
APPEND = gql(
    "mutation($s: ID!, $m: String) { appendEvent(sessionId: $s, input: {type: INFO, message: $m})"
    " { sequence } }"
)
COMPLETE = gql("mutation($s: ID!) { updateSession(id: $s, input: {status: COMPLETED}) { status } }")
WATCH = gql(
    "subscription($s: ID!, $a: Int) { sessionEvents(sessionId: $s, afterSequence: $a)"
    " { sequence type message } }"
)
READ = gql("query($s: ID!) { session(id: $s) { status eventCount } }")


async def main(url: str, key: str, count: int) -> list[dict[str, object]]:
    auth = f"Bearer {key}"
    http = Client(
        transport=HTTPXAsyncTransport(url=f"{url}/graphql", headers={"Authorization": auth})
    )
    ws = Client(
        transport=WebsocketsTransport(
            url=url.replace("http", "ws", 1) + "/graphql",
            init_payload={"Authorization": auth},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
    )
    received: list[dict[str, object]] = []
    async with http as writer, ws as watcher:
        session_id = (await writer.execute(CREATE))["createSession"]["id"]
        print(f"created {session_id}")

        async def watch() -> None:
            async for result in watcher.subscribe(WATCH, variable_values={"s": session_id, "a": 0}):
                received.append(result["sessionEvents"])
                print("event", json.dumps(result["sessionEvents"]))

        watching = asyncio.create_task(watch())
        for index in range(count):
            await writer.execute(
                APPEND, variable_values={"s": session_id, "m": f"step {index + 1}"}
            )
        await writer.execute(COMPLETE, variable_values={"s": session_id})
        # The subscription completes by itself once the session is terminal.
        await asyncio.wait_for(watching, timeout=30)
        print("session", json.dumps(await writer.execute(READ, variable_values={"s": session_id})))
    return received


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--count", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.url, options.key, options.count))
