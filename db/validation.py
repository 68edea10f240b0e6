"""Field rules shared by every door: what a session or event may hold."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

from db.errors import InvalidInput

MAX_LABEL_LENGTH = 255
MAX_MESSAGE_LENGTH = 65_536
MAX_JSON_BYTES = 1_048_576


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
    """PostgreSQL text cannot hold U+0000, so no door may accept it (on either database)."""
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain the NUL character (U+0000)", field=field)
    return value


def json_object(value: Any, field: str) -> dict[str, Any] | None:
    """A free JSON object (not an array or scalar) of bounded size, or null."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object or null", field=field)
    try:
        encoded = orjson.dumps(value)
        size = len(encoded)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidInput(f"{field} is not valid JSON: {exc}", field=field) from None
    if size > MAX_JSON_BYTES:
        raise InvalidInput(f"{field} is larger than {MAX_JSON_BYTES} bytes", field=field)
    if b"null" in encoded or b"\\u0000" in encoded:
        # orjson writes NaN and infinities as null and NUL as \u0000: only then look closer.
        _check_json_values(value, field)
    return value


def _check_json_values(value: Any, field: str) -> None:
    """Refuse what JSON columns cannot store faithfully: NaN/infinite numbers, and NUL in
    strings or keys (PostgreSQL's jsonb refuses it). Iterative, so depth cannot overflow."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and "\x00" in key:
                    free_of_nul(key, field)
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            free_of_nul(item, field)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(f"{field} must not contain NaN or infinite numbers", field=field)


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
