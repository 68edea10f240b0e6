"""The schema, assembled once; `schema.graphql` at the repo root is printed from it."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from graph.errors import ErrorCodes, ProductionErrorCodes
from graph.mutation import Mutation
from graph.query import Query
from graph.types import Event, Session


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """Parse and validation results are cached: validation is half of a small query's cost."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[Session, Event],
        extensions=[
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            ProductionErrorCodes if production else ErrorCodes,
        ],
        config=StrawberryConfig(auto_camel_case=True),
    )


def printed_schema() -> str:
    return build_schema().as_str() + "\n"
