"""Counters of what the operations did, counted where the rule runs so every door is covered."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_APPENDED = Counter("sessiongraph_events_appended_total", "Events committed to session logs.")
SESSIONS_CREATED = Counter("sessiongraph_sessions_created_total", "Sessions created.")
