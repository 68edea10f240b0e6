"""Every name the server takes from Strawberry's and graphql-core's internals, in one place:
they are not promised across releases, so the versions are bounded in pyproject.toml and
tests/graph/test_framework.py fails at once when an installed release moves one of them.
"""

from typing import Any, cast

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema
from strawberry.federation.schema import FederationAny
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.scalar import ScalarDefinition
from strawberry.types.unset import UnsetType

__all__ = [
    "DEFINITION_BACKREF",
    "BaseGraphQLTransportWSHandler",
    "BaseGraphQLWSHandler",
    "CannotGetOperationTypeError",
    "FederationAny",
    "InvalidOperationTypeError",
    "NonJsonMessageReceived",
    "NonTextMessageReceived",
    "OperationType",
    "PreExecutionError",
    "ScalarDefinition",
    "StrawberryGraphQLCoreExecutionContext",
    "StrawberryObjectDefinition",
    "UnsetType",
    "WebSocketDisconnected",
    "core_schema",
    "get_object_definition",
    "pre_execution_close_reason",
    "raw_info",
]

# Where Strawberry's converter leaves each GraphQL type's Strawberry definition.
DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF


def core_schema(schema: Any) -> GraphQLSchema:
    return cast(GraphQLSchema, schema._schema)


def raw_info(info: Any) -> GraphQLResolveInfo[Any]:
    return cast(GraphQLResolveInfo[Any], info._raw_info)


def pre_execution_close_reason(error: GraphQLError) -> str | None:
    """The 4400 reason graphql-transport-ws gives this pre-execution error, if it closes."""
    return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)
