"""Compile a validated operation once into closures that execute it, graphql-core's way.

graphql-core's executor rediscovers the same facts on every request: which fields a
selection set holds, which definition each field has, how each return type completes.
For one document they never change, so they are worked out here once and captured in
closures; what is left per request is calling resolvers and building dicts.

Behaviour follows graphql-core 3.3's `Executor` step for step (the same resolvers, the same
argument coercion, the same error messages, null propagation, error order and
"nulled position" filtering), so results are byte-identical; the differential test
holds it to that. What is not handled here (abstract return types, directives, fragment
variables, introspection, subscriptions, field middleware) raises `Unsupported` at
compile time, and the operation keeps running on Strawberry's standard execution.
"""

from __future__ import annotations

import asyncio
import enum
import operator
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from inspect import iscoroutine
from keyword import iskeyword
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_abstract_type,
    visit,
)
from graphql.error import located_error
from graphql.execution.executor import CollectedErrors
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import Visitor
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as ResolveInfo
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import has_enum_definition

is_awaitable = optimized_is_awaitable


class Unsupported(Exception):
    """The operation uses something this compiler does not reproduce exactly."""


class _NotPlain(Exception):
    """A row of a leaf-only list needs the general completion (a null, an error…)."""


# Lists the row loop may read twice (a generator could be consumed only once).
_SEQUENCES = (list, tuple)


class Run:
    """The state of one execution: context, coerced variables and collected errors."""

    __slots__ = ("context", "errors", "operation", "schema", "variables")

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        context: Any,
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.context = context
        self.variables = variables
        self.errors = CollectedErrors()


# Completes a resolved value at a path: returns the value, or an awaitable of it.
Complete = Callable[[Run, Any, Any], Any]
# Resolves and completes one field of a source object under a parent path.
ExecuteField = Callable[[Run, Path | None, Any], Any]


def _handle_field_error(
    run: Run, raw: Exception, nodes: list[FieldNode], return_type: Any, path: Path
) -> None:
    error = located_error(raw, nodes, path.as_list())
    if isinstance(return_type, GraphQLNonNull):
        raise error
    run.errors.add(error, path)


class _Collector:
    """Group a selection set's fields by response key, in graphql-core's order."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], schema: GraphQLSchema):
        self.fragments = fragments
        self.schema = schema

    def collect(
        self, runtime_type: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self._collect(runtime_type, selection_set, fields, set())
        return fields

    def _collect(
        self,
        runtime_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        fields: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise Unsupported("directives")
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if selection.type_condition is not None and not self._matches(
                    selection.type_condition.name.value, runtime_type
                ):
                    continue
                self._collect(runtime_type, selection.selection_set, fields, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is None or fragment.variable_definitions:
                    raise Unsupported("fragment variables")
                if not self._matches(fragment.type_condition.name.value, runtime_type):
                    continue
                self._collect(runtime_type, fragment.selection_set, fields, visited)

    def _matches(self, condition: str, runtime_type: GraphQLObjectType) -> bool:
        conditional = self.schema.get_type(condition)
        if conditional is runtime_type:
            return True
        if is_abstract_type(conditional):
            return self.schema.is_sub_type(conditional, runtime_type)
        return False


def _uses_variables(node: FieldNode) -> bool:
    """Arguments without variables coerce to the same values on every request."""
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_: Any) -> None:
            nonlocal found
            found = True

    for argument in node.arguments or ():
        visit(argument, Finder())
    return found


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    """A validated operation turned into closures; `execute` runs it for one request."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    operation_type: OperationType
    execute_root: Callable[[Run, Any], Any]

    async def execute(
        self, context: Any, raw_variables: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, list[GraphQLError] | None]:
        variables = get_variable_values(
            self.schema,
            self.operation.variable_definitions or (),
            raw_variables or {},
            max_errors=50,
        )
        if isinstance(variables, list):
            return None, variables
        run = Run(self.schema, self.operation, context, variables)  # type: ignore[arg-type]
        data: dict[str, Any] | None
        try:
            result = self.execute_root(run, None)
            data = await result if is_awaitable(result) else result
        except GraphQLError as error:
            run.errors.add(error, None)
            data = None
        return data, run.errors.errors or None


class Compiler:
    """Builds closures for one document; one instance per compilation."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.collector = _Collector(self.fragments, schema)

    def compile(self, operation: OperationDefinitionNode) -> CompiledOperation:
        if operation.directives:
            raise Unsupported("operation directives")
        if operation.operation == OperationType.SUBSCRIPTION:
            raise Unsupported("subscriptions")
        root_type = self.schema.get_root_type(operation.operation)
        if root_type is None:
            raise Unsupported("no root type")
        fields = self.collector.collect(root_type, [operation.selection_set])
        executors = self._field_executors(root_type, fields, operation)
        execute_root: Callable[[Run, Any], Any]
        if operation.operation == OperationType.MUTATION:
            execute_root = _serial_fields(executors)
        else:
            execute_fields = _concurrent_fields(executors)

            def execute_root(run: Run, source: Any) -> Any:
                return execute_fields(run, None, source)

        return CompiledOperation(self.schema, operation, operation.operation, execute_root)

    def _field_executors(
        self,
        parent_type: GraphQLObjectType,
        fields: dict[str, list[FieldNode]],
        operation: OperationDefinitionNode,
    ) -> list[tuple[str, ExecuteField]]:
        executors: list[tuple[str, ExecuteField]] = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                executors.append((key, _typename_field(parent_type.name)))
                continue
            if name.startswith("__"):
                raise Unsupported("introspection")
            field_def = parent_type.fields.get(name)
            if field_def is None:
                continue  # graphql-core leaves unknown fields out (validation forbids them)
            executors.append((key, self._field(parent_type, key, nodes, field_def, operation)))
        return executors

    def _field(
        self,
        parent_type: GraphQLObjectType,
        key: str,
        nodes: list[FieldNode],
        field_def: GraphQLField,
        operation: OperationDefinitionNode,
    ) -> ExecuteField:
        return_type = field_def.type
        parent_name = parent_type.name
        resolve = field_def.resolve
        if resolve is None:
            raise Unsupported("field without a Strawberry resolver")
        complete = self._completer(return_type, nodes, f"{parent_name}.{nodes[0].name.value}")
        first = nodes[0]
        is_default = getattr(resolve, "_is_default", False) and not field_def.args
        strawberry_field = (field_def.extensions or {}).get("strawberry-definition")

        if is_default and strawberry_field is not None and strawberry_field.is_basic_field:
            getter = _attribute_getter(strawberry_field)
            named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
            if isinstance(named, GraphQLScalarType | GraphQLEnumType):
                label = f"{parent_name}.{nodes[0].name.value}"
                return _basic_leaf(key, parent_name, nodes, return_type, named, getter, label)

            def execute_basic(run: Run, parent_path: Path | None, source: Any) -> Any:
                try:
                    completed = complete(
                        run, _LazyPath(parent_path, key, parent_name), getter(source)
                    )
                except Exception as raw:
                    path = Path(parent_path, key, parent_name)
                    _handle_field_error(run, raw, nodes, return_type, path)
                    return None
                if is_awaitable(completed):
                    return _await_completed(
                        run, completed, nodes, return_type, parent_path, key, parent_name
                    )
                return completed

            return execute_basic

        static_args: dict[str, Any] | None = None
        needs_args = bool(field_def.args or first.arguments)
        dynamic_args = needs_args and _uses_variables(first)
        if needs_args and not dynamic_args:
            static_args = get_argument_values(field_def, first, None)
        field_name = first.name.value
        call = _direct_call(self.schema, strawberry_field) or resolve

        def execute_resolved(run: Run, parent_path: Path | None, source: Any) -> Any:
            path = Path(parent_path, key, parent_name)
            info = ResolveInfo(
                field_name,
                nodes,
                return_type,
                parent_type,
                path,
                run.schema,
                self.fragments,
                None,
                run.operation,
                run.variables.coerced,  # type: ignore[attr-defined]
                run.context,
                is_awaitable,
                None,
                None,
                None,  # type: ignore[arg-type]  # no operation extensions, as in schema.execute
            )
            try:
                if dynamic_args:
                    args = get_argument_values(field_def, first, run.variables)  # type: ignore[arg-type]
                elif static_args is not None:
                    args = dict(static_args)
                else:
                    args = {}
                result = call(source, info, **args)
                if is_awaitable(result):
                    return _complete_awaitable(run, result, complete, nodes, return_type, path)
                completed = complete(run, path, result)
            except Exception as raw:
                _handle_field_error(run, raw, nodes, return_type, path)
                return None
            if is_awaitable(completed):
                return _await_completed_at(run, completed, nodes, return_type, path)
            return completed

        return execute_resolved

    def _completer(self, return_type: Any, nodes: list[FieldNode], field_label: str) -> Complete:
        if isinstance(return_type, GraphQLNonNull):
            inner = self._completer(return_type.of_type, nodes, field_label)
            message = f"Cannot return null for non-nullable field {field_label}."

            def complete_non_null(run: Run, path: Any, result: Any) -> Any:
                if isinstance(result, Exception):
                    raise result
                completed = inner(run, path, result)
                if completed is None:
                    raise TypeError(message)
                return completed

            return complete_non_null
        if isinstance(return_type, GraphQLList):
            return self._list_completer(return_type, nodes, field_label)
        if isinstance(return_type, GraphQLScalarType | GraphQLEnumType):
            return _leaf_completer(return_type)
        if isinstance(return_type, GraphQLObjectType):
            return self._object_completer(return_type, nodes)
        raise Unsupported("abstract return type")

    def _list_completer(
        self, return_type: GraphQLList[Any], nodes: list[FieldNode], field_label: str
    ) -> Complete:
        item_type = return_type.of_type
        item_complete = self._completer(item_type, nodes, field_label)
        not_iterable = f"Expected Iterable, but did not find one for field '{field_label}'."
        rows = self._leaf_rows(item_type, nodes)

        def complete_list(run: Run, path: Any, result: Any) -> Any:
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                return None
            sequence = type(result) in _SEQUENCES  # iterable, without two ABC checks
            if not sequence and not is_iterable(result):
                raise GraphQLError(not_iterable)
            if rows is not None and sequence:
                try:
                    return rows(result)  # a list or a tuple
                except Exception:  # anything unusual: the general loop below
                    pass
            path = _real(path)
            completed: list[Any] = []
            awaitable_indices: list[int] = []
            try:
                for index, item in enumerate(result):
                    item_path = Path(path, index, None)
                    if is_awaitable(item):
                        completed.append(
                            _complete_awaitable(
                                run, item, item_complete, nodes, item_type, item_path
                            )
                        )
                        awaitable_indices.append(index)
                        continue
                    try:
                        value = item_complete(run, item_path, item)
                    except Exception as raw:
                        _handle_field_error(run, raw, nodes, item_type, item_path)
                        completed.append(None)
                        continue
                    if is_awaitable(value):
                        completed.append(
                            _await_completed_at(run, value, nodes, item_type, item_path)
                        )
                        awaitable_indices.append(index)
                    else:
                        completed.append(value)
            except Exception:
                _settle_in_background([completed[i] for i in awaitable_indices])
                raise
            if not awaitable_indices:
                return completed
            return _gather_into(completed, awaitable_indices)

        return complete_list

    def _leaf_rows(
        self, item_type: Any, nodes: list[FieldNode]
    ) -> Callable[[Sequence[Any]], list[dict[str, Any]]] | None:
        """One tight loop for a list of objects whose selected fields are all plain leaves.

        Most of a response is such lists (`nodes { id type message }`). The loop reads each
        item's attributes and coerces them without paths, awaitables or error bookkeeping;
        it raises on anything unusual (a null, a failing read or coercion, an item of
        another type), and the caller then runs the general completion from the start,
        which gives the exact result and errors. Nothing here has side effects (attribute
        reads and leaf coercion), so running the general path after it changes nothing.
        """
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(object_type, GraphQLObjectType):
            return None
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        fields = self.collector.collect(object_type, selection_sets)
        executors = self._field_executors(object_type, fields, None)  # type: ignore[arg-type]
        readers = [(key, getattr(execute, "row_reader", None)) for key, execute in executors]
        if not readers or any(read is None for _, read in readers):
            return None
        is_type_of = object_type.is_type_of
        type_name = object_type.name
        if is_type_of is not None:
            plans = [getattr(execute, "row_plan", None) for _, execute in executors]
            return _generated_rows(readers, plans, is_type_of, type_name)  # type: ignore[arg-type]

        def leaf_rows(items: Sequence[Any]) -> list[dict[str, Any]]:
            completed: list[dict[str, Any]] = []
            append = completed.append
            for item in items:
                if item is None or is_awaitable(item):
                    raise _NotPlain(type_name)
                append({key: read(item) for key, read in readers})  # type: ignore[misc]
            return completed

        return leaf_rows

    def _object_completer(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> Complete:
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        fields = self.collector.collect(object_type, selection_sets)
        executors = self._field_executors(object_type, fields, None)  # type: ignore[arg-type]
        execute_fields = _concurrent_fields(executors)
        is_type_of = object_type.is_type_of

        def complete_object(run: Run, path: Any, result: Any) -> Any:
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                return None
            if is_type_of is not None:
                matches = is_type_of(result, None)  # type: ignore[arg-type]
                if is_awaitable(matches):
                    raise Unsupported("asynchronous is_type_of")
                if not matches:
                    raise GraphQLError(
                        f"Expected value of type '{object_type}' but got: {inspect(result)}.",
                        nodes,
                    )
            return execute_fields(run, _real(path), result)

        return complete_object


# Argument types Strawberry passes to resolvers unchanged (`convert_argument` on a leaf).
_PLAIN_ARGUMENTS = (int, str, bool, float, strawberry.ID)


def _direct_call(schema: GraphQLSchema, field: Any) -> Callable[..., Any] | None:
    """Call a Strawberry resolver as Strawberry's wrapper would, without the wrapper's cost.

    Per call, the wrapper builds an `Info`, converts every declared argument (naming each
    one again) and chains field extensions, then calls `field.get_result`. For a field
    with no extensions and no exception handlers, that comes down to: arguments under
    their Python names (`convert_arguments`, or unchanged for plain scalars, which it
    returns as they are), the source as `self`/`root`/`parent`, an `Info` if asked for.
    None when the field needs the wrapper; the caller then calls `field_def.resolve`.
    """
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    converter = getattr(strawberry_schema, "schema_converter", None)
    if field is None or field.base_resolver is None or field.extensions:
        return None
    if getattr(converter, "_exception_handler_specs", None) != ():
        return None
    config = strawberry_schema.config  # type: ignore[union-attr]
    registry = converter.scalar_registry  # type: ignore[union-attr]
    info_class = config.info_class
    resolver = field.base_resolver
    passes_self = resolver.self_parameter is not None
    source_names = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    arguments = field.arguments
    # `convert_arguments` one argument at a time: the plain ones are passed as they are.
    plans = [
        (config.name_converter.from_argument(a), a.python_name, _is_plain(a.type), a.type)
        for a in arguments
    ]
    plain = all(is_plain for _, _, is_plain, _ in plans)
    names = [(gql, py) for gql, py, _, _ in plans]
    get_result = field.get_result

    def call(source: Any, raw_info: Any, **raw_args: Any) -> Any:
        info = info_class(_raw_info=raw_info, _field=field)
        if not arguments:
            kwargs: dict[str, Any] = {}
        elif plain:
            kwargs = {py: raw_args[gql] for gql, py in names if gql in raw_args}
        else:
            kwargs = {}
            for gql, py, is_plain, argument_type in plans:
                if gql in raw_args:
                    value = raw_args[gql]
                    kwargs[py] = (
                        value
                        if is_plain
                        else convert_argument(
                            value=value,
                            type_=argument_type,
                            config=config,
                            scalar_registry=registry,
                            info=info,
                            path=(gql,),
                        )
                    )
        for name in source_names:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info
        return get_result(source, info=info, args=[source] if passes_self else [], kwargs=kwargs)

    return call


def _is_plain(argument_type: Any) -> bool:
    """Arguments `convert_argument` returns unchanged: plain scalars and enum members."""
    if isinstance(argument_type, StrawberryMaybe):
        return False
    if isinstance(argument_type, StrawberryOptional):
        argument_type = argument_type.of_type
    if isinstance(argument_type, type) and has_enum_definition(argument_type):
        return True
    return any(argument_type is t for t in _PLAIN_ARGUMENTS)


def _typename_field(typename: str) -> ExecuteField:
    def execute_typename(_run: Run, _path: Path | None, _source: Any) -> str:
        return typename

    execute_typename.never_awaits = True  # type: ignore[attr-defined]
    execute_typename.row_reader = lambda _source: typename  # type: ignore[attr-defined]
    return execute_typename


def _fast_coerce(leaf_type: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """The leaf's own output coercion, with shortcuts that return exactly what it would."""
    coerce = leaf_type.coerce_output_value
    if leaf_type is GraphQLString or leaf_type is GraphQLID:
        return lambda value: value if type(value) is str else coerce(value)
    if leaf_type is GraphQLInt:
        return lambda value: (
            value if type(value) is int and -(2**31) <= value < 2**31 else coerce(value)
        )
    if leaf_type is GraphQLBoolean:
        return lambda value: value if type(value) is bool else coerce(value)
    if isinstance(leaf_type, GraphQLEnumType):
        names: dict[Any, Any] = {}

        def coerce_enum(value: Any) -> Any:
            try:
                return names[value]
            except (KeyError, TypeError):
                coerced = coerce(value)
                if isinstance(value, enum.Enum):
                    names[value] = coerced  # a pure function of the member
                return coerced

        return coerce_enum
    return coerce


def _basic_leaf(
    key: str,
    parent_name: str,
    nodes: list[FieldNode],
    return_type: Any,
    leaf_type: GraphQLScalarType | GraphQLEnumType,
    getter: Callable[[Any], Any],
    label: str,
) -> ExecuteField:
    """An attribute read and its coercion in one call: the bulk of every response."""
    non_null = isinstance(return_type, GraphQLNonNull)
    null_message = f"Cannot return null for non-nullable field {label}."
    coerce = _fast_coerce(leaf_type)

    def execute_leaf(run: Run, parent_path: Path | None, source: Any) -> Any:
        try:
            value = getter(source)
            if value is None or value is Undefined:
                if non_null:
                    raise TypeError(null_message)
                return None
            if isinstance(value, Exception):
                raise value
            coerced = coerce(value)
            if coerced is Undefined or coerced is None:
                raise TypeError(
                    f"Expected `{inspect(leaf_type)}.coerce_output_value("
                    f"{inspect(value)})` to return non-nullable value, returned:"
                    f" {inspect(coerced)}"
                )
            return coerced
        except Exception as raw:
            path = Path(parent_path, key, parent_name)
            _handle_field_error(run, raw, nodes, return_type, path)
            return None

    execute_leaf.never_awaits = True  # type: ignore[attr-defined]
    if isinstance(getter, operator.attrgetter):  # a pure read: safe to repeat after a failure

        def read_leaf(source: Any) -> Any:
            """`execute_leaf` for `_leaf_rows`: raises instead of recording an error."""
            value = getter(source)
            if value is None or value is Undefined:
                if non_null:
                    raise _NotPlain(label)
                return None
            if isinstance(value, Exception):
                raise _NotPlain(label)
            coerced = coerce(value)
            if coerced is Undefined or coerced is None:
                raise _NotPlain(label)
            return coerced

        execute_leaf.row_reader = read_leaf  # type: ignore[attr-defined]
        execute_leaf.row_plan = _row_plan(getter, leaf_type, non_null)  # type: ignore[attr-defined]
    return execute_leaf


@dataclass(frozen=True, slots=True)
class _RowPlan:
    """How `_generated_rows` reads one leaf inline: the attribute and its shortcut.

    `kind` is "str" (String and ID: a str is its own coercion), "int" (a 32-bit int is),
    "bool", or "enum" with `names` mapping each member of one enum class to the name it
    coerces to. Anything else the shortcut does not cover goes to the field's `read_leaf`.
    """

    attribute: str
    kind: str | None
    names: dict[Any, Any] | None = None
    enum_class: type | None = None


def _row_plan(
    getter: operator.attrgetter[Any],
    leaf_type: GraphQLScalarType | GraphQLEnumType,
    non_null: bool,
) -> _RowPlan | None:
    attribute = getter.__reduce__()[1][0]  # the name `attrgetter` was built with
    if not isinstance(attribute, str) or not attribute.isidentifier() or iskeyword(attribute):
        return None
    if leaf_type is GraphQLString or leaf_type is GraphQLID:
        return _RowPlan(attribute, "str")
    if leaf_type is GraphQLInt:
        return _RowPlan(attribute, "int")
    if leaf_type is GraphQLBoolean:
        return _RowPlan(attribute, "bool")
    if isinstance(leaf_type, GraphQLEnumType):
        wrapped = getattr(leaf_type, "wrapped_cls", None)  # Strawberry's enums keep values
        if isinstance(wrapped, enum.EnumMeta):
            members: list[Any] = list(wrapped)
        else:
            members = [v.value for v in leaf_type.values.values()]
        classes = {type(m) for m in members}
        if len(classes) != 1 or not all(isinstance(m, enum.Enum) for m in members):
            return _RowPlan(attribute, None)
        names: dict[Any, Any] = {}
        for member in members:
            try:
                coerced: Any = leaf_type.coerce_output_value(member)
            except Exception:  # the general read gives the error
                continue
            if coerced is not None and coerced is not Undefined:
                names[member] = coerced
        return _RowPlan(attribute, "enum", names, classes.pop())
    return _RowPlan(attribute, None)


def _generated_rows(
    readers: list[tuple[str, Callable[[Any], Any]]],
    plans: list[_RowPlan | None],
    is_type_of: Callable[..., Any],
    type_name: str,
) -> Callable[[Sequence[Any]], list[dict[str, Any]]]:
    """`leaf_rows` as one generated function: each leaf read and coerced inline.

    What graphql-jit does in JavaScript, for the one shape that dominates responses. Each
    field reads its attribute once and keeps it when it is already its own coercion (a str
    for String/ID, an int in 32 bits, a bool, a member of the field's enum); any other
    value goes to the field's `read_leaf`, which reads again and coerces or raises
    `_NotPlain`, exactly as the loop without generated code does.
    """
    namespace: dict[str, Any] = {"is_type_of": is_type_of, "_NotPlain": _NotPlain}
    lines = [
        "def leaf_rows(items):",
        "    completed = []",
        "    append = completed.append",
        "    for item in items:",
        f"        if is_type_of(item, None) is not True: raise _NotPlain({type_name!r})",
    ]
    values = []
    for index, ((key, read), plan) in enumerate(zip(readers, plans, strict=True)):
        value = f"v{index}"
        namespace[f"read{index}"] = read
        values.append(f"{key!r}: {value}")
        if plan is None or plan.kind is None:
            lines.append(f"        {value} = read{index}(item)")
            continue
        lines.append(f"        {value} = item.{plan.attribute}")
        if plan.kind == "str":
            test = f"type({value}) is not str"
        elif plan.kind == "int":
            test = f"type({value}) is not int or not -2147483648 <= {value} < 2147483648"
        elif plan.kind == "bool":
            test = f"type({value}) is not bool"
        else:
            namespace[f"class{index}"] = plan.enum_class
            # Members live as long as their class: keyed by `id`, no `Enum.__hash__` call.
            namespace[f"names{index}"] = {id(m): name for m, name in plan.names.items()}  # type: ignore[union-attr]
            lines.append(
                f"        {value} = names{index}.get(id({value}))"
                f" if type({value}) is class{index} else None"
            )
            test = f"{value} is None"
        lines.append(f"        if {test}: {value} = read{index}(item)")
    lines.append(f"        append({{{', '.join(values)}}})")
    lines.append("    return completed")
    exec("\n".join(lines), namespace)  # source built above from names only
    return namespace["leaf_rows"]  # type: ignore[no-any-return]


class _LazyPath:
    """The path of a plain field, built only if an error needs it."""

    __slots__ = ("key", "parent", "typename")

    def __init__(self, parent: Path | None, key: str, typename: str) -> None:
        self.parent = parent
        self.key = key
        self.typename = typename


def _real(path: Any) -> Path:
    if isinstance(path, _LazyPath):
        return Path(path.parent, path.key, path.typename)
    return path  # type: ignore[no-any-return]


def _attribute_getter(field: Any) -> Callable[[Any], Any]:
    default_resolver = field.default_resolver
    name = field.python_name
    if default_resolver is getattr:
        return operator.attrgetter(name)
    return lambda source: default_resolver(source, name)


def _leaf_completer(leaf_type: GraphQLScalarType | GraphQLEnumType) -> Complete:
    coerce = leaf_type.coerce_output_value

    def complete_leaf(run: Run, path: Any, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        coerced = coerce(result)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(leaf_type)}.coerce_output_value("
                f"{inspect(result)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
        return coerced

    return complete_leaf


async def _complete_awaitable(
    run: Run,
    awaitable: Awaitable[Any],
    complete: Complete,
    nodes: list[FieldNode],
    return_type: GraphQLOutputType,
    path: Path,
) -> Any:
    try:
        completed = complete(run, path, await awaitable)
        if is_awaitable(completed):
            completed = await completed
    except Exception as raw:
        _handle_field_error(run, raw, nodes, return_type, path)
        return None
    return completed


async def _await_completed_at(
    run: Run,
    completed: Awaitable[Any],
    nodes: list[FieldNode],
    return_type: GraphQLOutputType,
    path: Path,
) -> Any:
    try:
        return await completed
    except Exception as raw:
        _handle_field_error(run, raw, nodes, return_type, path)
        return None


async def _await_completed(
    run: Run,
    completed: Awaitable[Any],
    nodes: list[FieldNode],
    return_type: GraphQLOutputType,
    parent_path: Path | None,
    key: str,
    typename: str,
) -> Any:
    try:
        return await completed
    except Exception as raw:
        _handle_field_error(run, raw, nodes, return_type, Path(parent_path, key, typename))
        return None


_settling: set[asyncio.Future[Any]] = set()


def _settle_in_background(awaitables: list[Any]) -> None:
    """What graphql-core does when an error bubbles synchronously past siblings that are
    already awaitable: the error is not delayed, and the siblings still run to the end
    (none is left never awaited, none is cancelled half-way through its I/O)."""
    if not awaitables:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # nothing can run them: dispose of them
        for awaitable in awaitables:
            if iscoroutine(awaitable):
                awaitable.close()
        return
    future = asyncio.gather(*awaitables, return_exceptions=True)
    _settling.add(future)
    future.add_done_callback(_settling.discard)


async def _gather_into(values: list[Any], indices: list[int]) -> list[Any]:
    if len(indices) == 1:
        index = indices[0]
        values[index] = await values[index]
    else:
        results = await gather_with_cancel(*(values[i] for i in indices))
        for index, value in zip(indices, results, strict=True):
            values[index] = value
    return values


async def _gather_fields(results: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    if len(keys) == 1:
        key = keys[0]
        results[key] = await results[key]
    else:
        awaited = await gather_with_cancel(*(results[k] for k in keys))
        results.update(zip(keys, awaited, strict=True))
    return results


def _concurrent_fields(
    executors: list[tuple[str, ExecuteField]],
) -> Callable[[Run, Path | None, Any], Any]:
    """Resolve every field; await the asynchronous ones together, as graphql-core does."""
    if all(getattr(execute, "never_awaits", False) for _, execute in executors):

        def execute_plain_fields(run: Run, path: Path | None, source: Any) -> Any:
            return {key: execute(run, path, source) for key, execute in executors}

        return execute_plain_fields

    def execute_fields(run: Run, path: Path | None, source: Any) -> Any:
        results: dict[str, Any] = {}
        pending: list[str] = []
        try:
            for key, execute in executors:
                value = execute(run, path, source)
                results[key] = value
                if is_awaitable(value):
                    pending.append(key)
        except Exception:
            _settle_in_background([results[k] for k in pending])
            raise
        if not pending:
            return results
        return _gather_fields(results, pending)

    return execute_fields


def _serial_fields(
    executors: list[tuple[str, ExecuteField]],
) -> Callable[[Run, Any], Any]:
    """Mutations: each root field finishes before the next one starts."""

    async def execute_serially(run: Run, source: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for key, execute in executors:
            value = execute(run, None, source)
            results[key] = await value if is_awaitable(value) else value
        return results

    return execute_serially


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> CompiledOperation:
    """Raises `Unsupported` for anything the standard executor must handle."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        if len(operations) != 1:
            raise Unsupported("operation must be named")
        operation = operations[0]
    else:
        named = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if not named:
            raise Unsupported("unknown operation")
        operation = named[-1]
    return Compiler(schema, document).compile(operation)
