"""Kill the bus's LISTEN connections server-side, as a network fault or a DBA would."""

from __future__ import annotations

import asyncpg

from db.live.bus import APPLICATION_NAME


async def terminate_listeners(dsn: str) -> int:
    """`pg_terminate_backend` every LISTEN connection on the database; how many it killed."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
        return len(rows)
    finally:
        await conn.close()
