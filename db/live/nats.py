"""The hint bus on core NATS (`SESSIONGRAPH_BUS_URL=nats://host:port`): one subject for
every process's hints; no JetStream, since the database is the log."""

from __future__ import annotations

from typing import Any

from db.live.bus import APPLICATION_NAME, BrokerBus, log

SUBJECT = "sessiongraph.hints"


class NatsBus(BrokerBus):
    kind = "nats"
    _nc: Any = None

    async def _connect(self) -> None:
        from nats.aio.client import Client

        async def closed() -> None:
            self._lost.set()

        async def error(problem: Exception) -> None:
            log.debug("bus: nats client: %s", problem)

        self._nc = Client()
        await self._nc.connect(
            self.url,
            name=APPLICATION_NAME,
            allow_reconnect=False,
            # Two tries, then NoServersError (0 would mean "try forever" at connect).
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            connect_timeout=5,
            no_echo=True,  # our own hints are delivered locally already
            disconnected_cb=closed,
            closed_cb=closed,
            error_cb=error,
        )
        await self._nc.subscribe(SUBJECT, cb=self._on_message)
        await self._nc.flush(timeout=5)

    async def _on_message(self, message: Any) -> None:
        self._received(message.data)

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            await nc.close()

    def _link_alive(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    async def _send(self, payloads: list[str]) -> None:
        for payload in payloads:
            await self._nc.publish(SUBJECT, payload.encode())
        await self._nc.flush(timeout=5)

    async def _probe(self) -> None:
        await self._nc.flush(timeout=5)  # a PING answered by a PONG
