"""The garbage collector of a serving process: rare full collections over a small heap.
Default thresholds paused 1,000 WebSockets' subscribers 60-290 ms every second or so
(docs/decisions.md): the built app is frozen out of collection, young collections are rarer."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune_for_serving() -> None:
    """Called once per server process, after the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
