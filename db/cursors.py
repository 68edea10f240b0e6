"""Opaque keyset cursors: a session cursor names the last row a page showed (creation time,
id), so page 1,000 costs what page 1 costs and rows created during a walk never shift it."""

import base64
import binascii
from datetime import datetime

from db.clock import as_utc, parse_rfc3339, to_rfc3339
from db.errors import InvalidInput
from db.ids import SESSION_PREFIX, is_well_formed


def encode_session_cursor(created_at: datetime, session_id: str) -> str:
    return session_cursor(to_rfc3339(as_utc(created_at)), session_id)


def session_cursor(stamp: str, session_id: str) -> str:
    """The cursor of a session created at `stamp` (RFC 3339 text); SQLite's `session_cursor`."""
    raw = f"{stamp}|{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_session_cursor(cursor: str, *, field: str = "cursor") -> tuple[datetime, str]:
    """Refuse anything this server did not hand out, with a clear error rather than a guess."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        stamp, session_id = text.split("|")
        created_at = parse_rfc3339(stamp)
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidInput(f"{field} is not a valid cursor", field=field) from None
    if not is_well_formed(session_id, SESSION_PREFIX):
        raise InvalidInput(f"{field} is not a valid cursor", field=field)
    return created_at, session_id


def encode_event_cursor(sequence: int) -> str:
    """Event cursors are sequences: gapless and stable, so a number is all a cursor needs."""
    return str(sequence)


def decode_event_cursor(cursor: str, *, field: str) -> int:
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 12:
        raise InvalidInput(f"{field} is not a valid event cursor", field=field)
    return int(cursor)
