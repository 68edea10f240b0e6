"""Field rules shared by every door: what a session or event may hold."""

import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from db.errors import InvalidInput

MAX_LABEL_LENGTH = 255
MAX_MESSAGE_LENGTH = 65_536
MAX_JSON_BYTES = 1_048_576
MIN_JSON_NUMBER, MAX_JSON_NUMBER = -(2**63), 2**64 - 1
# Levels of objects and arrays in a JSON field (its own object is level 1): the writers of
# answers stop near 255 (orjson at 254) and answers nest values a few levels deeper.
MAX_JSON_DEPTH = 64


def label(value: Any, field: str, *, max_length: int = MAX_LABEL_LENGTH) -> str | None:
    """A short free string: null clears it; empty or over-long strings are refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string or null", field=field)
    if value == "":
        raise InvalidInput(f"{field} must not be empty; send null to leave it unset", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    return free_of_nul(value, field)


def free_of_nul(value: str, field: str) -> str:
    """PostgreSQL stores no NUL character and no lone surrogate, so neither engine takes them."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain the NUL character (U+0000)", field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} must be valid Unicode text", field=field) from None
    return value


def check_json_depth(value: Any, field: str) -> None:
    """For doors that recurse into a body before `json_object` checks it."""
    for _ in _containers(value, field):
        pass


def _containers(value: Any, field: str) -> Iterator[dict[str, Any] | list[Any]]:
    """Every object and array, refusing depth over `MAX_JSON_DEPTH`; a loop, not recursion."""
    if not isinstance(value, dict | list):
        return
    pending: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(
                f"{field} is nested more than {MAX_JSON_DEPTH} levels deep; at most"
                f" {MAX_JSON_DEPTH} levels of objects and arrays are allowed",
                field=field,
            )
        yield container
        items = container.values() if isinstance(container, dict) else container
        pending.extend((item, depth + 1) for item in items if isinstance(item, dict | list))


def json_object(value: Any, field: str) -> dict[str, Any] | None:
    """A free JSON object (not an array or scalar) of bounded size, or null."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object or null", field=field)
    # Within 64-bit integers: not every client reads wider (PostgreSQL writes 1e237 in full).
    for container in _containers(value, field):
        if isinstance(container, dict):
            for key in container:
                free_of_nul(key, field)
            items: Iterable[Any] = container.values()
        else:
            items = container
        for item in items:
            if isinstance(item, str):
                free_of_nul(item, field)
            elif isinstance(item, float) and not math.isfinite(item):
                raise InvalidInput(f"{field} must not contain NaN or infinite numbers", field=field)
            elif (
                isinstance(item, int | float)
                and not isinstance(item, bool)
                and not MIN_JSON_NUMBER <= item <= MAX_JSON_NUMBER
            ):
                raise InvalidInput(f"{field} holds a number outside -2^63..2^64-1", field=field)
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidInput(f"{field} is not valid JSON: {exc}", field=field) from None
    if size > MAX_JSON_BYTES:
        raise InvalidInput(f"{field} is larger than {MAX_JSON_BYTES} bytes", field=field)
    return value


def future_time(value: Any, field: str, now: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{field} must be an RFC 3339 timestamp with a time zone", field=field)
    if value <= now:
        raise InvalidInput(f"{field} must be in the future", field=field)
    return value


def api_name(column: str) -> str:
    """Errors name fields as clients write them: `assembly_state` → `assemblyState`."""
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)
