"""Execute a subscription event once per process, not once per subscriber.

A thousand clients watching one session usually send the same document. For an `Event`
payload the result of their selection depends only on the document, the variables the
selection itself uses, and the event (immutable once written; its fields need no
context), so `SharedEventExecutor` keeps recent results keyed by exactly that and each
further subscriber gets the same result instead of a fresh execution. Arguments of the
root field (`sessionId`, `afterSequence`) are consumed by the resolver, not the selection,
so resumed subscribers with different positions still share.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

from graphql import ExecutionResult, Executor, OperationDefinitionNode, VariableNode, visit
from graphql.language import FieldNode, Visitor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.types import Event

_CACHE_SIZE = 4096


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _selection_variables(executor: Executor[Any]) -> tuple[str, ...]:
    """Variables the root field's selection (and any fragment) refers to."""
    operation = executor.operation
    found = _Variables()
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.selection_set is not None:
            visit(selection.selection_set, found)
        for directive in selection.directives or ():
            visit(directive, found)
    for fragment in executor.fragment_definitions.values():
        visit(fragment, found)
    return tuple(sorted(found.names))


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    _results: ClassVar[
        OrderedDict[tuple[Any, ...], tuple[OperationDefinitionNode, ExecutionResult]]
    ] = OrderedDict()
    _variables: ClassVar[OrderedDict[int, tuple[OperationDefinitionNode, tuple[str, ...]]]] = (
        OrderedDict()
    )

    def execute_operation(self, serially: bool | None = None) -> Any:
        payload = self.root_value
        if not isinstance(payload, Event):
            return super().execute_operation(serially)
        key = self._key(payload)
        hit = self._results.get(key)
        if hit is not None and hit[0] is self.operation:
            self._results.move_to_end(key)
            return hit[1]
        result = super().execute_operation(serially)
        if isinstance(result, ExecutionResult) and not result.errors:
            self._results[key] = (self.operation, result)
            if len(self._results) > _CACHE_SIZE:
                self._results.popitem(last=False)
        return result

    def _key(self, payload: Event) -> tuple[Any, ...]:
        operation = self.operation
        known = self._variables.get(id(operation))
        if known is None or known[0] is not operation:
            known = (operation, _selection_variables(self))
            self._variables[id(operation)] = known
            if len(self._variables) > _CACHE_SIZE:
                self._variables.popitem(last=False)
        values = self.variable_values.coerced
        used = tuple(repr(values.get(name)) for name in known[1])
        return (str(payload.id), id(operation), used)
