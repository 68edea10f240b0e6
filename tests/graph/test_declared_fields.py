"""The public GraphQL types and REST models show exactly the declared fields (db/fields.py),
with the declared nullability; the REST read plans are held to the models in
tests/rest/test_reads.py."""

from __future__ import annotations

from typing import get_args

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType
from pydantic import BaseModel

from db.fields import EVENT_FIELDS, SESSION_FIELDS, Field
from graph.rest.models import (
    AppendEventRequest,
    CreateSessionRequest,
    Event,
    Session,
    SessionSummary,
    UpdateSessionRequest,
)
from graph.schema.build import build_schema

SCHEMA = build_schema()._schema
# Fields of the types that are not stored values of the resource: relations.
RELATIONS = {"Session": {"events"}, "Event": set()}


@pytest.mark.parametrize(
    ("type_name", "declared"), [("Session", SESSION_FIELDS), ("Event", EVENT_FIELDS)]
)
def test_graphql_types_match_the_declaration(type_name: str, declared: tuple[Field, ...]) -> None:
    graphql_type = SCHEMA.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    shown = set(graphql_type.fields) - RELATIONS[type_name]
    assert shown == {f.api for f in declared}
    for field in declared:
        non_null = isinstance(graphql_type.fields[field.api].type, GraphQLNonNull)
        assert non_null == (not field.nullable), f"{type_name}.{field.api}"


def test_settable_fields_are_the_inputs() -> None:
    for input_name in ("CreateSessionInput", "UpdateSessionInput"):
        graphql_type = SCHEMA.get_type(input_name)
        assert set(graphql_type.fields) == {f.api for f in SESSION_FIELDS if f.settable}  # type: ignore[union-attr]
    append = SCHEMA.get_type("AppendEventInput")
    assert set(append.fields) == {f.api for f in EVENT_FIELDS if f.settable}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "declared", "relations"),
    [
        (Session, SESSION_FIELDS, {"events"}),
        (SessionSummary, SESSION_FIELDS, set()),
        (Event, EVENT_FIELDS, set()),
    ],
)
def test_rest_models_match_the_declaration(
    model: type[BaseModel], declared: tuple[Field, ...], relations: set[str]
) -> None:
    """REST shows every declared field but the event count, under the stored name (the
    handlers read records by it), with the declared nullability."""
    shown = [f for f in declared if f.kind != "count"]
    fields = {name: info for name, info in model.model_fields.items() if name not in relations}
    assert {name: info.alias for name, info in fields.items()} == {f.name: f.api for f in shown}
    for field in shown:
        nullable = type(None) in get_args(fields[field.name].annotation)
        assert nullable == field.nullable, f"{model.__name__}.{field.api}"


def test_rest_request_bodies_take_the_settable_fields() -> None:
    for model in (CreateSessionRequest, UpdateSessionRequest):
        assert set(model.model_fields) == {f.name for f in SESSION_FIELDS if f.settable}
    assert set(AppendEventRequest.model_fields) == {f.name for f in EVENT_FIELDS if f.settable}
