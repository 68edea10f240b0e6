"""GraphQL enums; their Python values are the lowercase strings `db` stores."""

from enum import Enum

import strawberry


@strawberry.enum(description="Where a session is in its life; terminal ones never change.")
class SessionStatus(Enum):
    PENDING = "pending"
    GENERATING = "generating"
    ASSEMBLING = "assembling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@strawberry.enum(description="Severity of an event.")
class EventType(Enum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@strawberry.enum(description="Order of `Query.sessions`.")
class SessionOrder(Enum):
    CREATED_AT_DESC = "created_at_desc"
    CREATED_AT_ASC = "created_at_asc"
