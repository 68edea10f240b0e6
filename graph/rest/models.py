"""The REST wire format as pydantic models: handlers validate with them and `/openapi.json`
is made from them. Response fields are declared in the reference page's order, alphabetical
by JSON name, since pydantic writes them in declaration order (docstrings and descriptions
here are the document's). Reads are written by the database in the same bytes
(`tests/rest/test_bodies.py`)."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    create_model,
)
from pydantic.alias_generators import to_camel

from db.clock import parse_rfc3339, to_rfc3339
from db.records import EventRecord
from db.validation import MAX_LABEL_LENGTH, MAX_MESSAGE_LENGTH, api_name, check_json_depth
from db.windows import MAX_PAGE

SessionStatus = Literal[
    "pending", "generating", "assembling", "completed", "failed", "cancelled", "expired"
]
# Anything but `expired`, which only the server sets.
CreatableStatus = Literal["pending", "generating", "assembling", "completed", "failed", "cancelled"]
EventType = Literal["debug", "info", "warning", "error"]

# PostgreSQL stores no NUL character, so no text field takes one (db.validation agrees).
NO_NUL = r"^[^\x00]*$"

Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_LENGTH, pattern=NO_NUL)]
MessageText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_LENGTH, pattern=NO_NUL)
]
# A free JSON object; its schema (no NUL anywhere, 64-bit integers) is a shared component.
JsonObject = Annotated[dict[str, Any], WithJsonSchema({"$ref": "#/components/schemas/JsonObject"})]


def _shallow_enough(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """The depth rule (db.validation) before the idempotency fingerprint's recursive encoder
    sees the body: nested a few hundred levels deep, it would overflow first."""
    check_json_depth(value, api_name(info.field_name or "body"))
    return value


JsonObjectInput = Annotated[JsonObject, AfterValidator(_shallow_enough)]


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string, e.g. 2024-06-17T09:15:30Z")
    return parse_rfc3339(value)


def _time(description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "format": "date-time", "description": description})


Instant = Annotated[
    datetime,
    PlainSerializer(to_rfc3339, return_type=str),
    _time("RFC 3339 in UTC with milliseconds, e.g. `2024-06-10T09:15:30.000Z`."),
]
FutureInstant = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    _time("RFC 3339 with a time zone (`Z` or an offset); must lie in the future."),
]


def _omittable(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null: no `default: null` in its schema."""
    schema.pop("default", None)


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, populate_by_name=False
    )

    def provided(self) -> dict[str, Any]:
        """The fields the client sent (explicit nulls included), by column name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class CreateSessionRequest(_Body):
    """Every field is optional; `status: null` and `expiresAt: null` mean the defaults."""

    assembly_state: JsonObjectInput | None = None
    catalog_version: Label | None = None
    expires_at: FutureInstant | None = Field(
        default=None, description="Defaults to createdAt + the server's session lifetime."
    )
    prd: JsonObjectInput | None = None
    product_object: JsonObjectInput | None = None
    schema_version: Label | None = None
    status: CreatableStatus | None = Field(default=None, description="Defaults to `pending`.")


class UpdateSessionRequest(CreateSessionRequest):
    """A partial update: omitted fields are kept, fields sent as null are cleared."""

    # May be omitted but never null (neither can be cleared): the default only marks "omitted".
    expires_at: FutureInstant = Field(default=None, json_schema_extra=_omittable)  # type: ignore[assignment]
    status: SessionStatus = Field(  # type: ignore[assignment]
        default=None,  # type: ignore[arg-type]
        json_schema_extra=_omittable,
        description="Moves forward only; an illegal transition is 409.",
    )


class AppendEventRequest(_Body):
    message: MessageText | None = None
    payload: JsonObjectInput | None = None
    stage: Label | None = None
    type: EventType


class _Query(BaseModel):
    """Query strings: text is converted to numbers; names are camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="ignore")


class ListSessionsQuery(_Query):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE, description="Page size, 1-100.")
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=NO_NUL,
        description="`nextCursor` of the previous page; omit it for the first page.",
    )
    status: list[SessionStatus] | None = Field(
        default=None, description="Only sessions in these statuses (repeat to give several)."
    )
    user_id: Label | None = Field(default=None, description="Only sessions of this creator.")


class ListEventsQuery(_Query):
    after: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Only events with a greater sequence."
    )
    limit: int = Field(default=MAX_PAGE, ge=1, le=MAX_PAGE, description="Page size, 1-100.")


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    @classmethod
    def of(cls, record: object, **values: Any) -> Self:
        """From a record, whose attributes are named as the fields; `values` fill the rest."""
        return cls(**{n: getattr(record, n) for n in cls.model_fields if n not in values}, **values)


class Event(_Out):
    """One entry of a session's log, as on the reference page plus its `sequence`."""

    created_at: Instant
    id: str
    message: str | None
    organization_id: str | None
    payload: JsonObject | None
    sequence: int = Field(description="1, 2, 3… per session, gapless, in commit order.")
    session_id: str
    stage: str | None
    type: EventType
    user_id: str


class SessionSummary(_Out):
    """A session as list pages show it: the reference page's fields without `events`."""

    assembly_state: JsonObject | None
    catalog_version: str | None
    created_at: Instant
    expires_at: Instant
    id: str
    organization_id: str | None
    plan: JsonObject | None
    prd: JsonObject | None
    product_object: JsonObject | None
    product_object_hash: str | None
    schema_version: str | None
    status: SessionStatus
    updated_at: Instant
    user_id: str


class _WithEvents(_Out):
    @classmethod
    def of(cls, record: object, events: list[EventRecord] | None = None, **values: Any) -> Self:
        return super().of(record, events=[Event.of(e) for e in events or ()], **values)


# The summary's fields and `events`, in the reference page's (alphabetical) order.
_SESSION = {n: (f.annotation, f) for n, f in SessionSummary.model_fields.items()} | {
    "events": (list[Event], Field(description="The whole log, in sequence order."))
}
Session: type[_WithEvents] = create_model(
    "Session",
    __base__=_WithEvents,
    __doc__="A session with its whole log: exactly the reference page's shape.",
    **dict(sorted(_SESSION.items())),
)


class SessionList(_Out):
    data: list[SessionSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class EventList(_Out):
    data: list[Event]
    has_more: bool
    next_after: int | None = Field(description="Pass as `after` for the next page.")


class ErrorDetail(_Out):
    code: str = Field(description="Stable, machine-readable: `not_found`, `conflict`, …")
    message: str = Field(description="For people; safe to show.")
    field: str | None = Field(default=None, description="The field to blame, when there is one.")
    error_id: str | None = Field(
        default=None, description="On 500: the id under which the server logged the detail."
    )


class ErrorBody(_Out):
    """Every error, whatever its status."""

    error: ErrorDetail
