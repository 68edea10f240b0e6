"""Scalars: `DateTime` as RFC 3339 UTC strings ending in `Z`, `JSON` for free objects."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NewType

import strawberry
from strawberry.scalars import JSON
from strawberry.types.scalar import ScalarDefinition

from db.clock import parse_rfc3339, to_rfc3339

if TYPE_CHECKING:
    DateTime = datetime  # to a type checker a DateTime is simply a datetime
else:
    DateTime = NewType("DateTime", datetime)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="RFC 3339 timestamp in UTC ending in `Z`, e.g. `2024-06-10T09:15:30.000Z`.",
        serialize=to_rfc3339,
        parse_value=parse_rfc3339,
    )
}

__all__ = ["JSON", "SCALAR_MAP", "DateTime"]
