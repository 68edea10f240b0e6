"""`productObjectHash`: a fingerprint of the product object that ignores key order and spacing."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal objects give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def product_object_hash(product_object: dict[str, Any] | None) -> str | None:
    """32 lowercase hex: SHA-256 of the canonical JSON, truncated to 128 bits."""
    if product_object is None:
        return None
    return hashlib.sha256(canonical_json(product_object)).hexdigest()[:32]
