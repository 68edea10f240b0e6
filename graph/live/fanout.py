"""Execute a subscription event once per process, not once per subscriber: an `Event`
result depends only on the document, the variables its selection uses and the (immutable)
event. On a WebSocket lane (`open_lane`) an `EventStream` writes each event itself, encoded
once per event and selection with each operation id spliced in: Strawberry's bytes without
its per-result cost. Results with errors, or extensions that add to results, take
Strawberry's path."""

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, ClassVar, TypeVar

import orjson
from graphql import (
    ExecutionResult,
    Executor,
    OperationDefinitionNode,
    VariableNode,
    execute_subscription_event,
    visit,
)
from graphql.language import FieldNode, Visitor
from strawberry.extensions import SchemaExtension

from db.live.feeds import Reader
from db.records import EventRecord
from graph.framework import StrawberryGraphQLCoreExecutionContext
from graph.schema.types import Event

_CACHE_SIZE = 4096
T = TypeVar("T")
SendText = Callable[[str], Awaitable[None]]

COUNTS = SimpleNamespace(encodings=0, writes=0)  # by the shared path; tests hold these

# Set in the task that runs one WebSocket operation: how to send encoded text, and the
# message up to its payload, e.g. `{"id":"1","type":"next","payload":`.
_LANE: ContextVar[tuple[SendText, str] | None] = ContextVar("sessiongraph_lane", default=None)


def open_lane(send_text: SendText, prefix: str) -> None:
    _LANE.set((send_text, prefix))


def transport_prefix(operation_id: str) -> str:
    """graphql-transport-ws `next`, as Strawberry's `Operation.send_next` builds it."""
    return '{"id":' + orjson.dumps(operation_id).decode() + ',"type":"next","payload":'


def legacy_prefix(operation_id: str) -> str:
    """Legacy graphql-ws `data`, as Strawberry's `send_data_message` builds it."""
    return '{"type":"data","id":' + orjson.dumps(operation_id).decode() + ',"payload":'


def results_untouched_by_extensions(extensions: list[SchemaExtension]) -> bool:
    """Whether no extension adds to or rewrites stream results (so sharing them is exact)."""
    return all(
        type(e).get_results is SchemaExtension.get_results
        and type(e).on_stream_result is SchemaExtension.on_stream_result
        for e in extensions
    )


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _selection_variables(executor: Executor[Any]) -> tuple[str, ...]:
    """Variables the root field's selection (and any fragment) refers to."""
    found = _Variables()
    for selection in executor.operation.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.selection_set is not None:
            visit(selection.selection_set, found)
        for directive in selection.directives or ():
            visit(directive, found)
    for fragment in executor.fragment_definitions.values():
        visit(fragment, found)
    return tuple(sorted(found.names))


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    # Keyed by the operation's id(), so each value starts with its operation to rule out reuse.
    _encoded: ClassVar[OrderedDict[Any, tuple[OperationDefinitionNode, str]]] = OrderedDict()
    _results: ClassVar[OrderedDict[Any, tuple[OperationDefinitionNode, Any]]] = OrderedDict()
    _variables: ClassVar[OrderedDict[int, tuple[OperationDefinitionNode, Any]]] = OrderedDict()

    def execute_operation(self, serially: bool | None = None) -> Any:
        payload = self.root_value
        if not isinstance(payload, Event):
            return super().execute_operation(serially)
        key = (str(payload.id), *self.group_key())
        hit = self._results.get(key)
        if hit is not None and hit[0] is self.operation:
            self._results.move_to_end(key)
            return hit[1]
        result = super().execute_operation(serially)
        if isinstance(result, ExecutionResult) and not result.errors:
            _remember(self._results, key, (self.operation, result))
        return result

    def group_key(self) -> tuple[Any, ...]:
        """What, besides the event, decides the result: the document and selection variables."""
        operation = self.operation
        known = self._variables.get(id(operation))
        if known is None or known[0] is not operation:
            known = (operation, _selection_variables(self))
            _remember(self._variables, id(operation), known)
        values = self.variable_values.coerced
        return (id(operation), tuple(repr(values.get(name)) for name in known[1]))

    def cancellable_iterable(self, iterable: AsyncIterable[T]) -> AsyncIterable[T]:
        """graphql-core hands the subscription's source stream here: tell it its executor."""
        if isinstance(iterable, EventStream):
            iterable.executor = self
        return super().cancellable_iterable(iterable)

    async def encoded_payload(self, record: EventRecord, group: tuple[Any, ...]) -> str | None:
        """The payload as JSON text, once per event and `group_key`; None for a result with
        errors (Strawberry maps those)."""
        key = (record.id, *group)
        hit = self._encoded.get(key)
        if hit is not None and hit[0] is self.operation:
            return hit[1]
        result = execute_subscription_event(
            self.build_per_event_executor(Event.from_record(record))
        )
        if self.is_awaitable(result):
            result = await result
        if not isinstance(result, ExecutionResult) or result.errors:
            return None
        text = orjson.dumps({"data": result.data}).decode()
        COUNTS.encodings += 1
        _remember(self._encoded, key, (self.operation, text))
        return text


class EventStream(AsyncIterable[Event]):
    """`sessionEvents`' source stream: Strawberry's path, or its own writes on a lane. The
    reader is opened on first iteration, so a stream closed before it starts leaves nothing
    behind. Events go out in the reader's order either way (one task sends both kinds)."""

    def __init__(self, open_reader: Callable[[], Reader[EventRecord]]) -> None:
        self._open_reader = open_reader
        self.executor: SharedEventExecutor | None = None

    async def __aiter__(self) -> AsyncGenerator[Event, None]:
        reader = self._open_reader()
        lane = _LANE.get()
        executor = self.executor if lane is not None else None
        group = executor.group_key() if executor is not None else ()
        try:
            async for record in reader:
                if lane is not None and executor is not None:
                    text = await executor.encoded_payload(record, group)
                    if text is not None:
                        send_text, prefix = lane
                        COUNTS.writes += 1
                        await send_text(prefix + text + "}")
                        continue
                yield Event.from_record(record)
        finally:
            reader.close()
