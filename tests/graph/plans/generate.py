"""Read operations drawn by hypothesis, with the variables they run with.

A document is built as text while the variables it declares are collected: each argument
is written as a literal or as a variable, and each variable gets one value per run (up
to three runs of one document, so one plan sees several sets of variables, some of them
of another shape or refused). Values cover every argument at and past its limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.graph.plans.dataset import BAD_CURSORS, FORGED_CURSORS, Dataset

TOKEN = re.compile(r"@@(\w+):(\w+)@@")


def token(kind: str, key: object) -> str:
    """A stand-in for a value of the dataset (an id, a cursor, a user id)."""
    return f"@@{kind}:{key}@@"


@dataclass(frozen=True)
class Shape:
    """What the drawing needs to know about a dataset: the same for every database, so
    operations are drawn once and filled in with each database's ids."""

    roles: tuple[str, ...]
    events: int
    cursors: int
    users: int

    @classmethod
    def of(cls, data: Dataset) -> Shape:
        return cls(tuple(data.sessions), len(data.events), len(data.cursors), len(data.users))


def substitutions(data: Dataset) -> dict[str, Any]:
    table: dict[str, Any] = {token("s", role): sid for role, sid in data.sessions.items()}
    table.update({token("e", i): eid for i, eid in enumerate(data.events)})
    table.update({token("c", i): cursor for i, cursor in enumerate(data.cursors)})
    table[token("c", "last")] = data.cursors[-1]
    table.update({token("u", i): user for i, user in enumerate(data.users)})
    table[token("f", "session")] = data.foreign_session
    table[token("f", "event")] = data.foreign_event
    table[token("f", "cursor")] = data.foreign_cursor
    return table


EVENT_LEAVES = [
    "id",
    "sequence",
    "sessionId",
    "organizationId",
    "userId",
    "type",
    "stage",
    "message",
    "payload",
    "createdAt",
    "__typename",
]
SESSION_LEAVES = [
    "id",
    "organizationId",
    "userId",
    "status",
    "assemblyState",
    "catalogVersion",
    "plan",
    "prd",
    "productObject",
    "productObjectHash",
    "schemaVersion",
    "createdAt",
    "updatedAt",
    "expiresAt",
    "eventCount",
    "__typename",
]
PAGE_INFO = ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"]
STATUSES = ["PENDING", "GENERATING", "ASSEMBLING", "COMPLETED", "FAILED", "CANCELLED", "EXPIRED"]
MISSING = object()  # a variable left out of the request


class Enum(str):
    """An enum value: a bare name in a document, a string in variables."""


PAGE_SIZES = [1, 2, 3, 5, 99, 100]
BAD_PAGE_SIZES = [0, 101, -1, -100, 2**31 - 1]
EVENT_CURSORS = [
    *["0", "1", "2", "3", "4", "5", "125", "240", "248", "249", "250", "251", "300"],
    *["00", "0001", "999999999999", "2147483647", "2147483648", "4294967296"],
]
BAD_EVENT_CURSORS = ["x", "", "-1", "1.5", " 1", "٣", "9999999999999", "1e3"]
MISSING_IDS = ["sess_0123456789abcdef", "evt_0123456789abcdef"]
MALFORMED_IDS = [
    "nope",
    "",
    "sess_",
    "evt_",
    "sess_0123456789ABCDEF",
    "sess_0123456789abcdef0",
    "SESS_0123456789abcdef",
    "sess_01234567\x0089abcdef",
    "sess_ü123456789abcde",
    "key_0123456789abcdef",
]
# Values no variable of the type coerces from: the standard path reports them.
UNCOERCIBLE: dict[str, list[Any]] = {
    "Int": ["3", 1.5, True, [1]],
    "String": [3, True, ["1"]],
    "ID!": [None, 1.5, True, {"id": 1}],
    "Boolean!": [None, "true", 1],
    "SessionOrder": ["DOWN", 1, "created_at_asc"],
    "[SessionStatus!]": [["LOST"], [None], "PENDING "],
    "SessionFilter": [{"nosuch": 1}, {"status": "LOST"}, "x"],
}


def mixed(good: list[Any], bad: list[Any], *, none: bool = True) -> st.SearchStrategy[Any]:
    """Mostly values the resolvers take (null among them), one time in five one they refuse."""
    valid = st.one_of(st.none(), st.sampled_from(good)) if none else st.sampled_from(good)
    return st.integers(0, 9).flatmap(lambda n: st.sampled_from(bad) if n < 2 else valid)


def literal(value: Any) -> str:
    """`value` as a GraphQL literal."""
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


def string_literal(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def plain(value: Any) -> Any:
    """A variable's value as JSON carries it (enum names as strings)."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return str(value)
    return value


@dataclass
class Document:
    """The operation being drawn: its variables, their values per run, its fragments."""

    draw: st.DrawFn
    shape: Shape
    runs: int
    definitions: dict[str, str] = field(default_factory=dict)
    values: dict[str, list[Any]] = field(default_factory=dict)
    fragments: dict[str, str] = field(default_factory=dict)
    aliases: int = 0

    # Variables and arguments --------------------------------------------------------
    def variable(self, type_name: str, values: st.SearchStrategy[Any]) -> str:
        name = f"v{len(self.definitions)}"
        definition = type_name
        if self.draw(st.integers(0, 9)) == 0 and not type_name.endswith("!"):
            definition += " = " + literal(self.draw(values))
        self.definitions[name] = definition
        wrong = UNCOERCIBLE.get(type_name, [])
        per_run = st.one_of(
            values, st.just(MISSING), *([st.sampled_from(wrong)] if wrong else [])
        ).filter(lambda v: v is not MISSING or not type_name.endswith("!"))
        weighted = st.integers(0, 19).flatmap(
            lambda n: values if n < 16 else per_run  # mostly values the type takes
        )
        self.values[name] = [self.draw(weighted) for _ in range(self.runs)]
        return "$" + name

    def value(self, type_name: str, values: st.SearchStrategy[Any]) -> str:
        """An argument's value: a literal, or (one time in three) a variable."""
        if self.draw(st.integers(0, 2)) == 0:
            return self.variable(type_name, values)
        return literal(self.draw(values))

    def arguments(self, given: dict[str, str | None]) -> str:
        parts = [f"{name}: {value}" for name, value in given.items() if value is not None]
        return f"({', '.join(parts)})" if parts else ""

    def optional(self, type_name: str, values: st.SearchStrategy[Any]) -> str | None:
        """An argument left out half of the time."""
        if self.draw(st.booleans()):
            return None
        return self.value(type_name, values)

    # Selections ---------------------------------------------------------------------
    def directives(self) -> str:
        choice = self.draw(st.integers(0, 9))
        if choice > 1:
            return ""
        name = "include" if choice == 0 else "skip"
        if self.draw(st.booleans()):
            condition = self.variable("Boolean!", st.booleans())
        else:
            condition = literal(self.draw(st.booleans()))
        return f" @{name}(if: {condition})"

    def alias(self, name: str) -> str:
        """None, a fresh one, or the field's own name (merged with the field unaliased)."""
        kind = self.draw(st.integers(0, 19))
        if kind == 0:
            return f"{name}: "
        if kind < 5:
            self.aliases += 1
            return f"f{self.aliases}: "
        return ""

    def selection(self, items: list[str]) -> str:
        return "{ " + " ".join(items) + " }"

    def many(self, one: Any, low: int = 1, high: int = 5) -> list[str]:
        return [one() for _ in range(self.draw(st.integers(low, high)))]

    def can_spread(self, name: str) -> bool:
        """False inside the fragment's own body: fragments must not form cycles."""
        return self.fragments.get(name) != ""

    def fragment(self, name: str, type_name: str, body: Any) -> str:
        if name not in self.fragments:
            self.fragments[name] = ""
            self.fragments[name] = f"fragment {name} on {type_name} {body()}"
        return f"...{name}{self.directives()}"

    def event_fields(self, depth: int = 0) -> str:
        def one() -> str:
            kind = self.draw(st.integers(0, 19))
            if kind < 14 or depth > 1:
                leaf = self.draw(st.sampled_from(EVENT_LEAVES))
                return f"{self.alias(leaf)}{leaf}{self.directives()}"
            if kind == 14:
                return f"... on Event{self.directives()} {self.event_fields(depth + 1)}"
            if kind == 15:
                return f"... on Node {self.selection(['id', '__typename'])}"
            if kind == 16:
                return f"...{self.directives()} {self.event_fields(depth + 1)}"
            if kind in (17, 18) and self.can_spread("EF"):
                return self.fragment("EF", "Event", lambda: self.event_fields(depth + 1))
            return self.fragment("NF", "Node", self.node_fragment)

        return self.selection(self.many(one))

    def node_fragment(self) -> str:
        return self.selection(
            [
                "id",
                "__typename",
                "... on Session { status eventCount }",
                "... on Event { sequence type }",
            ]
        )

    def session_fields(self, depth: int = 0, *, events: bool = True) -> str:
        def one() -> str:
            kind = self.draw(st.integers(0, 23))
            if kind < 14 or depth > 1:
                leaf = self.draw(st.sampled_from(SESSION_LEAVES))
                return f"{self.alias(leaf)}{leaf}{self.directives()}"
            if kind < 18:
                if events:
                    return self.events_field()
                return "eventCount"
            if kind == 18:
                return f"... on Session{self.directives()} {self.session_fields(depth + 1, events=events)}"
            if kind == 19:
                return f"... on Node {self.selection(['id', '__typename'])}"
            if kind == 20:
                return f"...{self.directives()} {self.session_fields(depth + 1, events=events)}"
            if kind == 21 and self.can_spread("SF"):
                return self.fragment("SF", "Session", lambda: self.session_fields(depth + 1))
            return self.fragment("NF", "Node", self.node_fragment)

        return self.selection(self.many(one))

    def page_info(self) -> str:
        picked = self.draw(st.lists(st.sampled_from(PAGE_INFO), min_size=1, max_size=6))
        return f"pageInfo{self.directives()} {self.selection(picked)}"

    def connection(self, kind: str, rows: Any) -> str:
        def one() -> str:
            part = self.draw(st.integers(0, 6))
            if part == 0:

                def edge_field() -> str:
                    kind = self.draw(st.integers(0, 2))
                    return f"node {rows()}" if kind == 0 else ["cursor", "__typename"][kind - 1]

                edge = self.many(edge_field, high=3)
                return f"{self.alias('edges')}edges{self.directives()} {self.selection(edge)}"
            if part in (1, 2):
                return f"{self.alias('nodes')}nodes{self.directives()} {rows()}"
            if part == 3:
                return self.page_info()
            if part == 4:
                return f"{self.alias('totalCount')}totalCount{self.directives()}"
            if part == 5:
                return "__typename"
            return f"... on {kind}Connection {self.selection(['totalCount'])}"

        return self.selection(self.many(one, high=4))

    def events_field(self) -> str:
        sizes = mixed(PAGE_SIZES, BAD_PAGE_SIZES)
        cursors = mixed(EVENT_CURSORS, BAD_EVENT_CURSORS)
        arguments = self.arguments(
            {
                "first": self.optional("Int", sizes),
                "after": self.optional("String", cursors),
                "last": self.optional("Int", sizes),
                "before": self.optional("String", cursors),
            }
        )
        # Different arguments under one key conflict; an alias keeps most apart.
        alias = ""
        if arguments and self.draw(st.integers(0, 9)):
            self.aliases += 1
            alias = f"f{self.aliases}: "
        body = self.connection("Event", lambda: self.event_fields(1))
        return f"{alias}events{arguments}{self.directives()} {body}"

    # Roots --------------------------------------------------------------------------
    def ids(self) -> st.SearchStrategy[Any]:
        shape = self.shape
        kinds = [
            *[st.sampled_from([token("s", role) for role in shape.roles])] * 5,
            st.sampled_from([token("s", "long"), token("s", "odd")]),
            *[st.sampled_from([token("e", i) for i in range(shape.events)])] * 2,
            st.sampled_from([token("f", "session"), token("f", "event")]),
            st.sampled_from(MISSING_IDS + MALFORMED_IDS),
            st.sampled_from([0, 7]),
        ]
        return st.integers(0, len(kinds) - 1).flatmap(lambda n: kinds[n])

    def root(self, index: int, unaliased: set[str]) -> str:
        kind = self.draw(st.integers(0, 9))
        name = ["session"] * 3 + ["node"] * 3 + ["sessions"] * 3 + ["__typename"]
        alias = ""
        if name[kind] in unaliased or self.draw(st.integers(0, 2)):
            alias = f"r{index}: "
        else:
            unaliased.add(name[kind])
        if kind < 3:
            argument = self.value("ID!", self.ids())
            return f"{alias}session(id: {argument}){self.directives()} {self.session_fields()}"
        if kind < 6:
            argument = self.value("ID!", self.ids())
            return f"{alias}node(id: {argument}){self.directives()} {self.node_fields()}"
        if kind < 9:
            return f"{alias}{self.sessions_field()}"
        return f"{alias}__typename"

    def node_fields(self) -> str:
        def one() -> str:
            kind = self.draw(st.integers(0, 7))
            if kind == 0:
                return "id"
            if kind == 1:
                return f"{self.alias('__typename')}__typename"
            if kind in (2, 3):
                return f"... on Session{self.directives()} {self.session_fields(1)}"
            if kind in (4, 5):
                return f"... on Event{self.directives()} {self.event_fields(1)}"
            if kind == 6:
                return self.fragment("SF", "Session", lambda: self.session_fields(1))
            if self.draw(st.booleans()):
                return self.fragment("EF", "Event", lambda: self.event_fields(1))
            return self.fragment("NF", "Node", self.node_fragment)

        return self.selection(self.many(one, high=4))

    def sessions_field(self) -> str:
        shape = self.shape
        sizes = mixed(PAGE_SIZES, BAD_PAGE_SIZES)
        given = [token("c", i) for i in range(shape.cursors)] + [token("f", "cursor")]
        cursors = mixed([*given, *FORGED_CURSORS], BAD_CURSORS)
        statuses = st.lists(st.sampled_from(STATUSES).map(Enum), max_size=3)
        creators = [token("u", i) for i in range(shape.users)]
        users = mixed([*creators, "nobody", ""], ["a\x00b"], none=False)
        filter_value = self.filter_value(statuses, users)
        # null: a literal is refused by validation, a variable by execution (the argument
        # is non-null, with a default that only an absent variable gets).
        orders = st.sampled_from([Enum("CREATED_AT_ASC"), Enum("CREATED_AT_DESC")] * 3 + [None])
        arguments = self.arguments(
            {
                "first": self.optional("Int", sizes),
                "after": self.optional("String", cursors),
                "filter": filter_value,
                "orderBy": self.optional("SessionOrder", orders),
            }
        )
        body = self.connection("Session", lambda: self.session_fields(1))
        return f"sessions{arguments}{self.directives()} {body}"

    def filter_value(
        self, statuses: st.SearchStrategy[Any], users: st.SearchStrategy[Any]
    ) -> str | None:
        kind = self.draw(st.integers(0, 5))
        if kind == 0:
            return None
        if kind == 1:
            whole = st.fixed_dictionaries(
                {}, optional={"status": st.one_of(st.none(), statuses), "userId": users}
            )
            return self.value("SessionFilter", st.one_of(st.none(), whole))
        parts = []
        if kind in (2, 4):
            parts.append(
                "status: " + self.value("[SessionStatus!]", st.one_of(st.none(), statuses))
            )
        if kind in (3, 4):
            parts.append("userId: " + self.value("String", st.one_of(st.none(), users)))
        return "{" + ", ".join(parts) + "}"

    # The whole operation ------------------------------------------------------------
    def text(self, roots: list[str]) -> str:
        head = ""
        if self.definitions:
            declared = ", ".join(f"${n}: {t}" for n, t in self.definitions.items())
            head = f"query Q({declared}) "
        elif self.draw(st.booleans()):
            head = self.draw(st.sampled_from(["query ", "query Q "]))
        body = head + self.selection(roots)
        return " ".join([body, *self.fragments.values()])

    def variable_sets(self) -> list[dict[str, Any]]:
        if not self.values:
            return [{}]
        return [
            {
                name: plain(values[run])
                for name, values in self.values.items()
                if values[run] is not MISSING
            }
            for run in range(self.runs)
        ]


Case = tuple[str, dict[str, Any]]


@st.composite
def operations(draw: st.DrawFn, shape: Shape) -> list[Case]:
    """One document and the variables of each of its runs."""
    document = Document(draw, shape, runs=draw(st.integers(1, 3)))
    unaliased: set[str] = set()
    roots = [document.root(index, unaliased) for index in range(draw(st.integers(1, 3)))]
    text = document.text(roots)
    return [(text, variables) for variables in document.variable_sets()]


def generated(data: Dataset, count: int) -> list[Case]:
    """`count` runs against `data`, drawn up front (they then run in the test's event loop)."""
    return fill(data, drawn(Shape.of(data), count))


def fill(data: Dataset, cases: Iterable[Case]) -> list[Case]:
    """The cases with `data`'s values in place of their tokens: escaped in documents,
    as they are in variables."""
    table = substitutions(data)

    def text(match: re.Match[str]) -> str:
        return string_literal(table[match.group(0)])[1:-1]

    def value(item: Any) -> Any:
        if isinstance(item, str) and TOKEN.fullmatch(item):
            return table[item]
        if isinstance(item, list):
            return [value(v) for v in item]
        if isinstance(item, dict):
            return {k: value(v) for k, v in item.items()}
        return item

    return [(TOKEN.sub(text, query), value(variables)) for query, variables in cases]


@cache
def drawn(shape: Shape, count: int) -> tuple[Case, ...]:
    """Derandomized, and drawn once per process: every database, and every run of the
    suite, gets the same operations."""
    found: list[Case] = []

    @settings(
        max_examples=count * 2 // 3,  # a document has 1.7 runs on average
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operations(shape))
    def collect(cases: list[Case]) -> None:
        found.extend(cases)

    collect()
    assert len(found) >= count, len(found)
    return tuple(found[:count])


def describe(case: Case) -> str:
    query, variables = case
    try:
        shown = orjson.dumps(variables).decode()
    except orjson.JSONEncodeError:  # a lone surrogate
        shown = repr(variables)
    return f"{query}\nvariables: {shown}"
