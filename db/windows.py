"""Relay windows over a session's events by arithmetic: sequences run 1..last_sequence
without gaps, so a slice is a range known before any SQL runs (`window_sql`: the same in SQL)."""

from typing import NamedTuple

from db.errors import InvalidInput

MAX_PAGE = 100
DEFAULT_PAGE = 100


class EventWindow(NamedTuple):
    """Sequences `low..high` inclusive; a tuple, as DataLoader keys are hashed in C."""

    low: int
    high: int
    has_previous_page: bool
    has_next_page: bool

    @property
    def is_empty(self) -> bool:
        return self.low > self.high


def check_page_size(value: int | None, field: str) -> None:
    if value is not None and not 1 <= value <= MAX_PAGE:
        raise InvalidInput(f"{field} must be between 1 and {MAX_PAGE}", field=field)


def event_window(
    last_sequence: int,
    *,
    first: int | None = None,
    after: int | None = None,
    last: int | None = None,
    before: int | None = None,
) -> EventWindow:
    """Apply Relay's algorithm: cut by after/before, then take `first`, then `last`."""
    check_page_size(first, "first")
    check_page_size(last, "last")
    if first is None and last is None:
        first = DEFAULT_PAGE
    low = max(1, (after or 0) + 1)
    high = last_sequence if before is None else min(last_sequence, before - 1)
    has_next = has_previous = False
    if first is not None and high - low + 1 > first:
        high = low + first - 1
        has_next = True
    if last is not None and high - low + 1 > last:
        low = high - last + 1
        has_previous = True
    # Rows exist beyond the cursors themselves too; Relay lets us say so when it is cheap.
    if after is not None and after >= 1 and last is None:
        has_previous = has_previous or min(after, last_sequence) >= 1
    if before is not None and first is None:
        has_next = has_next or before <= last_sequence
    return EventWindow(low, high, has_previous, has_next)


def window_sql(
    last_sequence: str,
    first: str | None,
    after: str | None,
    last: str | None,
    before: str | None,
    least: str,
    greatest: str,
) -> tuple[str, str, str, str]:
    """`event_window` over SQL operands; `least` and `greatest`: the engine's templates."""
    if first is None and last is None:
        first = str(DEFAULT_PAGE)
    low = f"({after} + 1)" if after is not None else "1"
    high = last_sequence if before is None else least.format(last_sequence, f"{before} - 1")
    has_next = has_previous = "FALSE"
    if first is not None:
        has_next = f"({high} - {low} + 1 > {first})"
        high = least.format(high, f"{low} + {first} - 1")
    if last is not None:
        has_previous = f"({high} - {low} + 1 > {last})"
        low = greatest.format(low, f"{high} - {last} + 1")
    if after is not None and last is None:
        has_previous = f"({has_previous} OR ({after} >= 1 AND {last_sequence} >= 1))"
    if before is not None and first is None:
        has_next = f"({has_next} OR {before} <= {last_sequence})"
    return low, high, has_next, has_previous
