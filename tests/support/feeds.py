"""What a process's live feeds hold, for tests that check nothing is left behind."""

from __future__ import annotations

from db.live.feeds import Feeds


def feed_stats(feeds: Feeds) -> dict[str, int]:
    sessions = feeds._feeds.values()
    return {
        "feeds": len(sessions),
        "event_readers": sum(len(f.readers) for f in sessions),
        "update_readers": len(feeds._updates),
        "feed_tasks": sum(1 for f in sessions if f._task is not None),
    }
