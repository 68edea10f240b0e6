"""The framework adapter: internals are named in graph/framework.py only, and they still work.

When a Strawberry or graphql-core release moves an internal the server relies on, these
tests fail on that release (.ci/framework_releases runs them against the newest ones).
"""

from __future__ import annotations

import ast
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, GraphQLSyntaxError, Source

from graph import framework
from graph.schema.build import build_schema

GRAPH = Path(__file__).resolve().parents[2] / "graph"
ADAPTER = GRAPH / "framework.py"
# The documented modules of each framework; anything deeper is an internal.
PUBLIC = {
    "strawberry",
    "strawberry.asgi",
    "strawberry.dataloader",
    "strawberry.exceptions",
    "strawberry.extensions",
    "strawberry.federation.schema_directives",
    "strawberry.scalars",
    "strawberry.schema.config",
    "strawberry.types",
    "graphql",
    "graphql.error",
    "graphql.execution",
    "graphql.language",
    "graphql.pyutils",
    "graphql.type",
}


def _faces() -> list[Path]:
    return [path for path in sorted(GRAPH.rglob("*.py")) if path != ADAPTER]


def test_internals_are_imported_in_the_adapter_only() -> None:
    for path in _faces():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                root = node.module.split(".")[0]
                if root in ("strawberry", "graphql"):
                    assert node.module in PUBLIC, f"{path}:{node.lineno} {node.module}"
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    assert not private, f"{path}:{node.lineno} imports {private}"


def test_no_private_attribute_is_read_outside_the_adapter() -> None:
    for path in _faces():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                if node.attr.startswith("__"):
                    continue
                owner = node.value
                mine = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
                assert mine, f"{path}:{node.lineno} reads {ast.unparse(node)}"


def test_every_adapted_name_resolves() -> None:
    for name in framework.__all__:
        assert getattr(framework, name) is not None, name


def test_the_core_schema_is_the_one_strawberry_executes() -> None:
    schema = build_schema()
    core = framework.core_schema(schema)
    assert isinstance(core, GraphQLSchema)
    session = core.get_type("Session")
    assert session is not None
    definition = session.extensions[framework.DEFINITION_BACKREF]
    assert isinstance(definition, framework.StrawberryObjectDefinition)
    assert definition.name == "Session"


def test_a_syntax_error_closes_graphql_transport_ws_and_a_field_error_does_not() -> None:
    syntax = GraphQLSyntaxError(Source("{"), 1, "Expected Name, found <EOF>.")
    assert framework.pre_execution_close_reason(syntax) == syntax.message
    assert framework.pre_execution_close_reason(GraphQLError("field failed")) is None
