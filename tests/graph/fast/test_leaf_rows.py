"""Lists of leaf-only objects complete in one loop; anything unusual gives Strawberry's answer.

The loop gives up on a null in a non-null field, a value its leaf type cannot coerce, an
item of another type or a list that is not a list, and the general completion then runs;
each case here is compared byte for byte with Strawberry's own execution.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import strawberry
from graphql import GraphQLEnumType, parse

import graph.fast.compiler
from graph.fast.compiler import compile_operation
from graph.graphql_http import response_body


@strawberry.interface
class Named:
    name: str


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Shade(enum.Enum):
    RED = "red"


class Text(str):
    """A str of another type: the generated loop's `type(value) is str` test says no."""


@strawberry.type
class Item(Named):
    name: str
    label: str | None
    count: int
    colour: Colour = Colour.RED
    flag: bool = True


@strawberry.type
class Other(Named):
    name: str


ROWS: dict[str, Any] = {}


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return ROWS["items"]  # type: ignore[no-any-return]

    @strawberry.field
    def maybe_items(self) -> list[Item | None] | None:
        return ROWS["items"]  # type: ignore[no-any-return]


schema = strawberry.Schema(query=Query, types=[Other])
QUERIES = [
    "{ items { name label count __typename } }",
    "{ maybeItems { n: name label } }",
    "{ items { ... on Named { name } count } }",
    "{ items { colour flag name c2: colour } }",
    "{ maybeItems { colour label flag count } }",
]


def generator() -> Iterator[Item]:
    yield Item(name="g", label=None, count=1)


CASES: dict[str, Any] = {
    "plain": [Item(name="a", label=None, count=1), Item(name="b", label="B", count=2)],
    "empty": [],
    "null in a non-null field": [
        Item(name="a", label=None, count=1),
        Item(name=None, label=None, count=2),
    ],  # type: ignore[arg-type]
    "Int out of range": [Item(name="a", label=None, count=2**40)],
    "wrong type": [Item(name="a", label=None, count=1), Other(name="o")],
    "null item": [Item(name="a", label=None, count=1), None],
    "tuple": (Item(name="a", label=None, count=1),),
    "enum members and bools": [
        Item(name="a", label="x", count=-(2**31), colour=Colour.BLUE, flag=False),
        Item(name="b", label=None, count=2**31 - 1),
    ],
    "enum value given as its text": [Item(name="a", label=None, count=1, colour="blue")],  # type: ignore[arg-type]
    "member of another enum": [Item(name="a", label=None, count=1, colour=Shade.RED)],  # type: ignore[arg-type]
    "unknown enum text": [Item(name="a", label=None, count=1, colour="green")],  # type: ignore[arg-type]
    "str subclass": [Item(name=Text("t"), label=Text("l"), count=1)],
    "bool as Int, int as Boolean": [Item(name="a", label=None, count=True, flag=1)],  # type: ignore[arg-type]
    "float as Int": [Item(name="a", label=None, count=3.0)],  # type: ignore[arg-type]
    "generator": "generator",
}


async def standard(query: str) -> bytes:
    return orjson.dumps(response_body(await schema.execute(query)))


async def compiled(query: str) -> bytes:
    plan = compile_operation(schema._schema, parse(query), None)
    data, errors = await plan.execute(None, None)
    return orjson.dumps(response_body(strawberry.types.ExecutionResult(data=data, errors=errors)))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("query", QUERIES)
async def test_same_answer_as_strawberry(case: str, query: str) -> None:
    value = CASES[case]
    ROWS["items"] = generator() if value == "generator" else value
    expected = await standard(query)
    ROWS["items"] = generator() if value == "generator" else value
    assert await compiled(query) == expected


@pytest.fixture
def built_paths(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The arguments of every `Path` the compiled path builds (one per item, off the loop)."""
    built: list[Any] = []
    real_path = graph.fast.compiler.Path

    def counting_path(*args: Any) -> Any:
        built.append(args)
        return real_path(*args)

    monkeypatch.setattr(graph.fast.compiler, "Path", counting_path)
    return built


async def test_plain_lists_take_the_loop(built_paths: list[Any]) -> None:
    """The general per-item path is not used for a plain list (it builds a path per item)."""
    built = built_paths
    ROWS["items"] = CASES["plain"]
    assert await compiled(QUERIES[0]) == await standard(QUERIES[0])
    item_paths = [args for args in built if isinstance(args[1], int)]
    assert item_paths == []
    ROWS["items"] = CASES["null in a non-null field"]
    assert await compiled(QUERIES[0]) == await standard(QUERIES[0])
    item_paths = [args for args in built if isinstance(args[1], int)]
    assert item_paths  # the general path ran and located the error


def test_enum_members_need_no_coercion_call() -> None:
    """The generated loop looks members of the field's enum up; other values are coerced."""
    colour_type = schema._schema.get_type("Colour")
    assert isinstance(colour_type, GraphQLEnumType)
    plan = graph.fast.compiler._row_plan(operator.attrgetter("colour"), colour_type, True)
    assert plan is not None
    assert (plan.kind, plan.enum_class) == ("enum", Colour)
    assert plan.names == {Colour.RED: "RED", Colour.BLUE: "BLUE"}
    other = graph.fast.compiler._row_plan(operator.attrgetter("a.b"), colour_type, True)
    assert other is None  # not a plain attribute: the field's reader runs


async def test_enum_and_bool_fields_take_the_loop(built_paths: list[Any]) -> None:
    """Members of the field's enum and bools are their own coercion in the generated loop."""
    built = built_paths
    ROWS["items"] = CASES["enum members and bools"]
    assert await compiled(QUERIES[3]) == await standard(QUERIES[3])
    assert [args for args in built if isinstance(args[1], int)] == []
