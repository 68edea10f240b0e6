"""A synchronous error that bubbles past siblings already awaiting: they still run to the end.

graphql-core settles such siblings in the background (their work is neither cancelled
half-way nor left as a coroutine that is never awaited); the compiled executor does the
same, and the answer stays Strawberry's own.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import orjson
import strawberry
from graphql import parse

from graph.fast.compiler import compile_operation
from graph.graphql_http import response_body

FINISHED: list[str] = []


@strawberry.type
class Thing:
    name: str
    fails: bool

    @strawberry.field
    async def slow(self) -> str:
        await asyncio.sleep(0.01)
        FINISHED.append(self.name)
        return self.name

    @strawberry.field
    def broken(self) -> str:
        if self.fails:
            raise ValueError(f"{self.name} is broken")
        return self.name


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [Thing(name="a", fails=False), Thing(name="b", fails=True)]


schema = strawberry.Schema(query=Query)
QUERIES = [
    "{ things { slow broken } }",  # item a awaits when item b's error empties the list
    "{ things { broken slow } }",  # and b's own `slow` never starts: only a's runs
]


async def _settled(run: object) -> tuple[bytes, list[str]]:
    FINISHED.clear()
    body = orjson.dumps(response_body(await run))  # type: ignore[misc]
    await asyncio.sleep(0.1)  # what was settled in the background has finished
    gc.collect()  # a coroutine never awaited would warn here, and warnings are errors
    return body, sorted(FINISHED)


async def _compiled(plan: Any) -> strawberry.types.ExecutionResult:
    data, errors = await plan.execute(None, None)
    return strawberry.types.ExecutionResult(data=data, errors=errors)


async def test_siblings_run_to_the_end_and_the_answer_is_strawberrys() -> None:
    for query in QUERIES:
        expected, finished_standard = await _settled(schema.execute(query))
        plan = compile_operation(schema._schema, parse(query), None)

        body, finished_compiled = await _settled(_compiled(plan))
        assert body == expected
        assert b"is broken" in body
        assert finished_compiled == finished_standard
        assert "a" in finished_compiled
