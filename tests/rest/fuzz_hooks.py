"""Schemathesis hooks: make the fuzzer's *valid* requests behave like a correct client where
a rule cannot be written in JSON Schema, so a 4xx for them would be a false alarm.

- An `Idempotency-Key` is fresh for each new request (reusing one for another body is a
  422 by design, tested in test_idempotency.py).
- `If-Match` carries `*` rather than a made-up ETag (a stale ETag is a 412 by design).
- `expiresAt` lies in the future (a past one is a 422 by design).
- `cursor` is left out: only a `nextCursor` the server issued is valid (else 422).

Invalid (negative) requests are sent exactly as generated.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis


def _is_past(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed <= datetime.now(UTC) + timedelta(minutes=5)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            headers[name] = f"{str(headers[name])[:200]}-{uuid.uuid4().hex}"
        elif name.lower() == "if-match":
            headers[name] = "*"
    if isinstance(case.body, dict) and _is_past(case.body.get("expiresAt")):
        case.body["expiresAt"] = "2999-01-01T00:00:00Z"
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
