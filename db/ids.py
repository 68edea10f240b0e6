"""Random, prefixed identifiers: the prefix says the kind, so ids are global across types."""

import re
import secrets
from functools import partial

SESSION_PREFIX = "sess_"
EVENT_PREFIX = "evt_"
KEY_PREFIX = "key_"

_ID_RE = re.compile(r"^(sess|evt|key)_[0-9a-f]{16}$")


def new_id(prefix: str) -> str:
    """16 lowercase hex from the OS CSPRNG: unguessable and never sequential."""
    return prefix + secrets.token_hex(8)


new_session_id = partial(new_id, SESSION_PREFIX)
new_event_id = partial(new_id, EVENT_PREFIX)
new_key_id = partial(new_id, KEY_PREFIX)


def is_well_formed(value: str, prefix: str) -> bool:
    """Cheap check before touching the database; a malformed id is simply not found."""
    return value.startswith(prefix) and _ID_RE.match(value) is not None
