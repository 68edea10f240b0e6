"""Streaming tests run against real servers with short timers, so close codes come quickly."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.settings import Settings

INIT_TIMEOUT = 4.0  # short enough for the 4408 tests, long enough for a loaded machine
MAX_SUBSCRIPTIONS = 5


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        ws_init_timeout_seconds=INIT_TIMEOUT,
        ws_max_subscriptions=MAX_SUBSCRIPTIONS,
        ws_keepalive_seconds=0.3,
        expiry_sweep_seconds=0.2,
        ws_revocation_check_seconds=0.2,
    )
