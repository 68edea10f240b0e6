"""The public GraphQL types show exactly the declared fields (db/fields.py), with the
declared nullability; the REST models are held to them in tests/rest/test_reads.py."""

from __future__ import annotations

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType

from db.fields import EVENT_FIELDS, SESSION_FIELDS, Field
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
