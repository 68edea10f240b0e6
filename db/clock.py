"""Time in one shape: aware UTC, truncated to milliseconds, so what is stored is what is shown."""

from datetime import UTC, datetime


def now() -> datetime:
    return truncate(datetime.now(UTC))


def truncate(value: datetime) -> datetime:
    """Milliseconds are what RFC 3339 strings (and JavaScript dates) round-trip exactly."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC, so naive means UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_rfc3339(value: datetime) -> str:
    """`2024-06-10T09:15:30.000Z`; `isoformat` pads years and costs a tenth of `strftime`."""
    if value.tzinfo is not UTC:
        value = as_utc(value)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Any RFC 3339 timestamp with an explicit offset; naive text is ambiguous, so refused."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    parsed = datetime.fromisoformat(candidate)
    if "T" not in candidate.upper() or parsed.tzinfo is None:
        raise ValueError("timestamp must be RFC 3339 with a time zone, e.g. 2024-06-17T09:15:30Z")
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        # e.g. 9999-12-31T23:59:59-01:00, which is in the year 10000 in UTC.
        raise ValueError(
            "timestamp is out of range: in UTC it must lie between"
            " 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z"
        ) from None
    return truncate(in_utc)
