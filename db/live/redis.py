"""The hint bus on Redis pub/sub (`SESSIONGRAPH_BUS_URL=redis://host:port/db`): one channel
for every process's hints, subscribed on its own connection (Redis allows nothing else on
it) and published on a second."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from db import clock
from db.live.bus import APPLICATION_NAME, BrokerBus

CHANNEL = "sessiongraph:hints"


class RedisBus(BrokerBus):
    kind = "redis"
    _client: Any = None
    _pubsub: Any = None
    _reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._client = Redis.from_url(
            self.url,
            socket_connect_timeout=5,
            socket_keepalive=True,
            client_name=APPLICATION_NAME,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(CHANNEL)
        # Connected only once Redis confirms the subscription: a catch-up read that ran
        # before it could miss a hint published in between, and nothing would repeat it.
        async with asyncio.timeout(5):
            confirmed = await self._pubsub.get_message(timeout=None)
        if not confirmed or confirmed.get("type") != "subscribe":
            raise ConnectionError(f"redis did not confirm the subscription: {confirmed!r}")
        await self._client.ping()  # the publishing connection works too
        self._reader = asyncio.create_task(self._read(self._pubsub), name="sessiongraph-bus-redis")

    async def _read(self, pubsub: Any) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._received(message["data"])
                elif message.get("type") == "pong":
                    self.alive_at = clock.now()
        except Exception:  # the subscription's connection is gone: so is the link
            pass
        finally:
            self._lost.set()

    async def _disconnect(self) -> None:
        reader, self._reader = self._reader, None
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if client is not None:
            await client.aclose()

    def _link_alive(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def _send(self, payloads: list[str]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for payload in payloads:
                pipe.publish(CHANNEL, payload)
            await pipe.execute()

    async def _probe(self) -> None:
        # A PING on the subscription's own connection proves it is alive (its PONG comes
        # back through `_read`); one on the publishing connection proves that one.
        await self._pubsub.ping()
        await self._client.ping()
