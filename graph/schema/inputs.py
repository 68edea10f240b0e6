"""Input types; `UNSET` tells an omitted field (kept) from an explicit null (cleared)."""

from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET

from graph.schema.enums import EventType, SessionStatus
from graph.schema.scalars import JSON, DateTime


@strawberry.input
class CreateSessionInput:
    status: SessionStatus | None = UNSET
    assembly_state: JSON | None = UNSET
    catalog_version: str | None = UNSET
    prd: JSON | None = UNSET
    product_object: JSON | None = UNSET
    schema_version: str | None = UNSET
    expires_at: DateTime | None = UNSET


@strawberry.input(description="Omitted fields are kept; fields sent as null are cleared.")
class UpdateSessionInput(CreateSessionInput):
    """The same fields as `CreateSessionInput`, the ones a client may set."""


@strawberry.input
class AppendEventInput:
    type: EventType
    stage: str | None = None
    message: str | None = None
    payload: JSON | None = None


@strawberry.input
class SessionFilter:
    status: list[SessionStatus] | None = None
    user_id: str | None = None


def provided_fields(value: object) -> dict[str, Any]:
    """The fields the client sent, by column name, with enums reduced to their stored value."""
    return {
        name: item.value if isinstance(item, Enum) else item
        for name, item in vars(value).items()
        if item is not UNSET
    }
