"""The garbage collector of a serving process: rare full collections over a small heap.

With 1,000 WebSockets, default thresholds ran full collections over millions of
long-lived objects every second or so, pausing every subscriber at once (60-290 ms).
What exists once the app is built is frozen out of collection and young collections run
every 50,000 allocations instead of 700 (docs/decisions.md). Cycles are still collected.
"""

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
