"""JSON fields may nest objects and arrays at most 64 levels deep (the field's own object
is level 1), on every write and both engines: what is stored must stay readable on every
door, and the count is a loop, so no depth can overflow the checker."""

from __future__ import annotations

from typing import Any

import pytest

from db import events as event_ops
from db import sessions as session_ops
from db import validation
from db.errors import InvalidInput
from db.records import Principal
from db.store.engine import Database
from tests.support.sessions import session_and_log

LIMIT = validation.MAX_JSON_DEPTH
ACCEPTED = (1, 2, 10, LIMIT - 1, LIMIT)
REFUSED = (LIMIT + 1, LIMIT + 2, 100, 254, 255, 1000)
SHAPES = ("objects", "arrays", "mixed", "empty", "wide")


def nested(depth: int, shape: str = "objects") -> dict[str, Any]:
    """A JSON object whose deepest container is `depth` levels down, built without recursion.

    objects: `{"k": {"k": … "bottom"}}`; arrays: an object holding arrays in arrays;
    mixed: objects and arrays in turn; empty: the deepest container is `{}`; wide: every
    level also holds numbers, text and a shallow object beside the deep branch.
    """
    inner: Any = {} if shape == "empty" else "bottom"
    for level in range(depth, 0, -1):
        as_array = level > 1 and (shape == "arrays" or (shape == "mixed" and level % 2 == 0))
        if shape == "empty" and level == depth:
            continue
        if as_array:
            inner = [inner, level] if shape == "mixed" else [inner]
        elif shape == "wide":
            siblings: dict[str, Any] = {"n": level, "f": -0.5, "s": "é✓", "t": None}
            if level + 2 <= depth:
                siblings["shallow"] = {"x": [1, True]}
            inner = {"k": inner, **siblings}
        else:
            inner = {"k": inner}
    assert isinstance(inner, dict)
    return inner


def depth_of(value: Any) -> int:
    """The test's own count, to keep `nested` honest."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def nested_text(depth: int) -> str:
    """JSON text of `nested(depth)` written without an encoder (any depth, even 100,000)."""
    return '{"k":' * (depth - 1) + '{"k":"bottom"}' + "}" * (depth - 1)


def too_deep(field: str) -> str:
    return (
        f"{field} is nested more than {LIMIT} levels deep;"
        f" at most {LIMIT} levels of objects and arrays are allowed"
    )


def test_the_limit_sits_well_below_every_writer() -> None:
    """orjson writes 254 levels; the limit leaves room for the answers' own nesting."""
    assert LIMIT == 64
    import orjson

    orjson.dumps({"data": {"sessions": {"edges": [{"node": nested(LIMIT)}]}}})


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", ACCEPTED)
def test_values_up_to_the_limit_are_accepted(shape: str, depth: int) -> None:
    value = nested(depth, shape)
    assert depth_of(value) == depth
    assert validation.json_object(value, "prd") is value
    validation.check_json_depth(value, "prd")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", REFUSED)
def test_values_over_the_limit_are_refused(shape: str, depth: int) -> None:
    value = nested(depth, shape)
    assert depth_of(value) == depth
    for check in (validation.json_object, validation.check_json_depth):
        with pytest.raises(InvalidInput) as caught:
            check(value, "productObject")
        assert (caught.value.field, caught.value.message) == (
            "productObject",
            too_deep("productObject"),
        )


def test_one_deep_branch_among_shallow_ones_is_found() -> None:
    value = {"a": 1, "b": [nested(3)] * 50, "c": {"d": nested(LIMIT - 1)}, "z": "end"}
    assert depth_of(value) == LIMIT + 1
    with pytest.raises(InvalidInput, match="nested more than 64 levels"):
        validation.json_object(value, "payload")
    value["c"] = {"d": nested(LIMIT - 2)}
    assert validation.json_object(value, "payload") is value


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_a_value_deeper_than_the_stack_does_not_overflow_the_checker(depth: int) -> None:
    value = nested(depth)
    with pytest.raises(InvalidInput) as caught:
        validation.json_object(value, "assemblyState")
    assert caught.value.message == too_deep("assemblyState")


@pytest.mark.parametrize("shape", SHAPES)
async def test_each_write_stores_the_limit_and_refuses_past_it(
    db: Database, principal: Principal, shape: str
) -> None:
    at_limit, over = nested(LIMIT, shape), nested(LIMIT + 1, shape)
    record = await session_ops.create_session(
        db, principal, {"prd": at_limit, "assembly_state": nested(LIMIT - 1, shape)}
    )
    updated = await session_ops.update_session(
        db, principal, record.id, {"product_object": at_limit}
    )
    event = await event_ops.append_event(db, principal, record.id, type="info", payload=at_limit)
    for field, column in (("prd", "prd"), ("productObject", "product_object")):
        with pytest.raises(InvalidInput) as caught:
            await session_ops.create_session(db, principal, {column: over})
        assert (caught.value.field, caught.value.message) == (field, too_deep(field))
        with pytest.raises(InvalidInput) as caught:
            await session_ops.update_session(db, principal, record.id, {column: over})
        assert caught.value.message == too_deep(field)
    with pytest.raises(InvalidInput) as caught:
        await event_ops.append_event(db, principal, record.id, type="info", payload=over)
    assert (caught.value.field, caught.value.message) == ("payload", too_deep("payload"))

    stored = await session_ops.get_session(db, principal, record.id)
    assert (stored.prd, stored.product_object) == (at_limit, at_limit)
    assert (stored.revision, stored.last_sequence) == (updated.revision, 1)
    page = await session_ops.list_sessions(db, principal)
    assert [item.id for item in page.items] == [record.id]  # the refused creates left nothing
    for statuses in (None, ["pending"]):
        [listed] = (await session_ops.list_sessions(db, principal, statuses=statuses)).items
        assert listed.product_object == at_limit
    _, [read_event] = await session_and_log(db, principal, record.id)
    assert read_event.payload == event.payload == at_limit
