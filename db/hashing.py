"""`productObjectHash`: a fingerprint of the product object that ignores key order and spacing."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def product_object_hash(product_object: dict[str, Any] | None) -> str | None:
    """32 lowercase hex: the first 128 bits of SHA-256 over compact, key-sorted JSON."""
    if product_object is None:
        return None
    canonical = orjson.dumps(product_object, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]
