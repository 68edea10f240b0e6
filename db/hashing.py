"""`productObjectHash`: a fingerprint of the product object that ignores key order and spacing."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def product_object_hash(product_object: dict[str, Any] | None) -> str | None:
    """32 lowercase hex: SHA-256 of the JSON with sorted keys and no whitespace (equal
    objects give equal bytes), truncated to 128 bits."""
    if product_object is None:
        return None
    canonical = orjson.dumps(product_object, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]
