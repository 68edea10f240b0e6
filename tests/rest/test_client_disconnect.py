"""A client that leaves mid-body is not a server error: nothing is logged as one."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

import pytest

from db.records import Principal
from db.sessions import create_session, get_session
from db.store.engine import Database

pytestmark = pytest.mark.timeout(30)


async def test_body_cut_short_logs_no_error(
    base_url: str,
    api_key: str,
    db: Database,
    principal: Principal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = await create_session(db, principal, {})
    address = urlparse(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        (
            f"POST /v1/products/generation/sessions/{session.id}/events HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\nAuthorization: Bearer {api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            '{"type": "in'
        ).encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert (await get_session(db, principal, session.id)).event_count == 0
    del reader
