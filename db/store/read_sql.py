"""A read plan as one SQL statement that returns the answer's JSON text, so Python
neither builds objects per row nor encodes the answer. The text is concatenated (not
`json_build_object`, which adds spaces on PostgreSQL) so both engines write exactly what
orjson writes: strings escaped as orjson does, stored JSON spliced in as stored, times as
RFC 3339 with milliseconds. Placeholders are numbered (`$n`, `?n`) in order of first use.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from db import clock
from db import status as status_rules
from db.clock import to_rfc3339
from db.fields import EVENTS, SESSIONS, Field
from db.records import Principal, SessionRecord
from db.store import read_plan
from db.store.engine import Database
from db.store.keys import KEY_SOURCE, PRINCIPAL_COLUMNS, live_key, principal_from_row
from db.store.read_plan import Entries, Part, ReadPlan
from db.windows import window_sql

ORGANIZATION, NOW, KEY = "organization", "now", "key"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the engines, as SQL templates; everything else is shared."""

    param: str  # a placeholder: number `n`, SQL type `type`
    text: str  # a string column as a JSON string, or null
    json: str  # stored JSON text as it is, or null
    stamp: str  # a timestamp column as RFC 3339 text with milliseconds
    number: str
    cursor: str  # base64url of `stamp|id`, unpadded (`db.cursors.session_cursor`)
    least: str
    greatest: str
    array: str  # `[item,…]` over the rows of `source` (FROM … WHERE …) in `order`


POSTGRES = Dialect(
    param="${n}::{type}",
    text="coalesce(to_json({0})::text, 'null')",
    json="coalesce({0}::text, 'null')",
    stamp="""to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""",
    number="({0})::text",
    cursor="rtrim(translate(encode(convert_to({0} || '|' || {1}, 'UTF8'), 'base64'),"
    " E'+/\\n', '-_'), '=')",
    least="LEAST({0}, {1})",
    greatest="GREATEST({0}, {1})",
    array="'[' || coalesce((SELECT string_agg({item}, ',' ORDER BY {order}) {source}), '') || ']'",
)
SQLITE = Dialect(
    param="?{n}",
    text="json_quote({0})",
    json="coalesce({0}, 'null')",
    # SQLAlchemy stores `YYYY-MM-DD HH:MM:SS.ffffff` in UTC: its first 23 characters.
    stamp="(replace(substr({0}, 1, 23), ' ', 'T') || 'Z')",
    number="({0})",
    cursor="session_cursor({0}, {1})",  # registered on each connection by `db.store.driver`
    least="min({0}, {1})",
    greatest="max({0}, {1})",
    # group_concat keeps the order of the subquery it reads (SQLite 3.40: no ORDER BY inside it).
    array="'[' || coalesce((SELECT group_concat(j, ',') FROM"
    " (SELECT {item} AS j {source} ORDER BY {order})), '') || ']'",
)


def _key(name: str) -> str:
    """A JSON object key as SQL text: names come from the schema ([_A-Za-z0-9]), never input."""
    if not name.replace("_", "a").isalnum():
        raise ValueError(f"not a plain name: {name!r}")
    return f'"{name}":'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _misplaced(value: Part) -> ValueError:
    return ValueError(f"{type(value).__name__} cannot appear here")


def _quoted(expr: str) -> str:
    return f"""'"' || {expr} || '"'"""


@dataclass
class Renderer:
    dialect: Dialect
    enum_case: str
    aliases: int = 0
    # Set when the key check is part of the statement: the organisation is the key's.
    organization: str | None = None
    # What each placeholder stands for, in number order: "organization", "now" or a parameter index.
    slots: dict[object, int] = field(default_factory=dict)

    def alias(self, prefix: str) -> str:
        self.aliases += 1
        return f"{prefix}{self.aliases}"

    def param(self, key: object, sql_type: str) -> str:
        number = self.slots.setdefault(key, len(self.slots) + 1)
        return self.dialect.param.format(n=number, type=sql_type)

    def number(self, expr: str) -> str:
        return self.dialect.number.format(expr)

    def array(self, item: str, source: str, order: str) -> str:
        return self.dialect.array.format(item=item, source=source, order=order)

    def session_cursor(self, alias: str) -> str:
        d = self.dialect
        return _quoted(d.cursor.format(d.stamp.format(f"{alias}.created_at"), f"{alias}.id"))

    def org(self) -> str:
        return self.organization or self.param(ORGANIZATION, "text")

    def now(self) -> str:
        return self.param(NOW, "timestamptz")

    def obj(self, entries: Entries, part: Callable[[Part], str]) -> str:
        if not entries:
            return "'{}'"
        pieces = []
        for index, (name, value) in enumerate(entries):
            prefix = ("{" if index == 0 else ",") + _key(name)
            pieces.append(f"{_literal(prefix)} || {self.value(value, part)}")
        return " || ".join(pieces) + " || '}'"

    def value(self, value: Part, part: Callable[[Part], str]) -> str:
        """Constants and nested objects (over the same scope) here; the scope's parts by `part`."""
        if isinstance(value, read_plan.Text):
            return _literal('"' + value.value + '"')
        if isinstance(value, read_plan.Null):
            return "'null'"
        if isinstance(value, read_plan.Obj):
            return self.obj(value.entries, part)
        return part(value)

    def field(self, spec: Field, alias: str) -> str:
        d = self.dialect
        column = f"{alias}.{spec.column}"
        if spec.kind == "text":
            return d.text.format(column)
        if spec.kind == "json":
            return d.json.format(column)
        if spec.kind == "time":
            return _quoted(d.stamp.format(column))
        if spec.kind in ("int", "count"):
            return d.number.format(column)
        if spec.kind == "enum":
            return _quoted(self.case(column))
        return _quoted(self.case(status_rules.seen_sql(alias, self.now())))

    def case(self, expr: str) -> str:
        return f"upper({expr})" if self.enum_case == "upper" else expr

    def session(self, entries: Entries, alias: str) -> str:
        return self.obj(entries, lambda value: self.session_part(value, alias))

    def session_part(self, value: Part, alias: str) -> str:
        if isinstance(value, read_plan.Field):
            if value.name == "cursor":
                return self.session_cursor(alias)
            return self.field(SESSIONS[value.name], alias)
        if isinstance(value, read_plan.EventPage):
            return self.event_page(value, alias)
        if isinstance(value, read_plan.EventList):
            return self.events(value.entries, alias, f"<= {alias}.last_sequence")
        raise _misplaced(value)

    def event(self, entries: Entries, alias: str) -> str:
        def part(value: Part) -> str:
            if not isinstance(value, read_plan.Field):
                raise _misplaced(value)
            if value.name == "cursor":
                return _quoted(f"{alias}.sequence")
            return self.field(EVENTS[value.name], alias)

        return self.obj(entries, part)

    def events(self, entries: Entries, session: str, sequences: str) -> str:
        """The array of the session's events whose sequence is `sequences` (a condition)."""
        alias = self.alias("e")
        source = (
            f"FROM events {alias} WHERE {alias}.session_id = {session}.id"
            f" AND {alias}.sequence {sequences}"
        )
        return self.array(self.event(entries, alias), source, f"{alias}.sequence")

    def event_page(self, page: read_plan.EventPage, session: str) -> str:
        # The window's placeholders are numbered as they are written: a page that shows
        # only its total must not bind them, which PostgreSQL could not type.
        w = page.window

        @cache
        def bounds() -> tuple[str, str, str, str]:
            """low, high, hasNextPage, hasPreviousPage (`db.windows.window_sql`)."""
            first, last, after, before = (
                None if index is None else self.param(index, "bigint")
                for index in (w.first, w.last, w.after, w.before)
            )
            d = self.dialect
            return window_sql(
                f"{session}.last_sequence", first, after, last, before, d.least, d.greatest
            )

        def part(value: Part) -> str:
            if isinstance(value, read_plan.Rows):
                low, high, _, _ = bounds()
                return self.events(value.entries, session, f"BETWEEN {low} AND {high}")
            if not isinstance(value, read_plan.Field):
                raise _misplaced(value)
            if value.name == "total_count":
                return self.number(f"{session}.last_sequence")
            low, high, has_next, has_previous = bounds()
            if value.name == "next_after":
                return f"CASE WHEN {has_next} THEN {self.number(high)} ELSE 'null' END"
            if value.name in ("has_next_page", "has_previous_page"):
                condition = has_next if value.name == "has_next_page" else has_previous
                return f"CASE WHEN {condition} THEN 'true' ELSE 'false' END"
            if value.name in ("start_cursor", "end_cursor"):
                edge = low if value.name == "start_cursor" else high
                return f"""CASE WHEN {low} <= {high} THEN '"' || ({edge}) || '"' ELSE 'null' END"""
            raise ValueError(f"not a page field: {value.name}")

        return self.obj(page.entries, part)

    def root(self, value: Part) -> str:
        if isinstance(value, read_plan.SessionById | read_plan.EventById):
            events = isinstance(value, read_plan.EventById)
            alias = self.alias("e" if events else "s")
            shown = (self.event if events else self.session)(value.entries, alias)
            return (
                f"coalesce((SELECT {shown} FROM {'events' if events else 'sessions'} {alias}"
                f" WHERE {alias}.id = {self.param(value.id, 'text')}"
                f" AND {alias}.organization_id = {self.org()}), 'null')"
            )
        if isinstance(value, read_plan.SessionPage):
            return self.session_page(value)
        raise _misplaced(value)

    def session_conditions(
        self, query: read_plan.SessionFilter, alias: str, *, keyset: bool
    ) -> str:
        conditions = [f"{alias}.organization_id = {self.org()}"]
        if query.user_id is not None:
            conditions.append(f"{alias}.user_id = {self.param(query.user_id, 'text')}")
        if query.statuses is not None:
            conditions.append(status_rules.filter_sql(query.statuses, alias, self.now))
        if keyset and query.after is not None:
            stamp = self.param(query.after[0], "timestamptz")
            session_id = self.param(query.after[1], "text")
            op = "<" if query.newest_first else ">"
            conditions.append(f"({alias}.created_at, {alias}.id) {op} ({stamp}, {session_id})")
        return " AND ".join(conditions)

    def session_page(self, page: read_plan.SessionPage) -> str:
        query = page.query
        direction = "DESC" if query.newest_first else "ASC"
        reverse = "ASC" if query.newest_first else "DESC"

        def order(alias: str, way: str = direction) -> str:
            return f"{alias}.created_at {way}, {alias}.id {way}"

        def page_rows(columns: str, alias: str, extra: str = "") -> str:
            limit = self.param(query.first, "int")
            return (
                f"SELECT {columns} FROM sessions {alias}"
                f" WHERE {self.session_conditions(query, alias, keyset=True)}"
                f" ORDER BY {order(alias)} LIMIT {limit}{extra}"
            )

        def part(value: Part) -> str:
            if isinstance(value, read_plan.Rows):
                alias = self.alias("s")
                inner = page_rows(f"{alias}.*", alias)
                outer = self.alias("s")
                item = self.session(value.entries, outer)
                return self.array(item, f"FROM ({inner}) {outer}", order(outer))
            if not isinstance(value, read_plan.Field):
                raise _misplaced(value)
            return page_field(value.name)

        def page_field(name: str) -> str:
            if name == "has_previous_page":
                return "'true'" if query.after is not None else "'false'"
            if name == "has_next_page":
                rows = page_rows("1", self.alias("s"), extra=" + 1")
                more = f"(SELECT count(*) FROM ({rows}) n) > {self.param(query.first, 'int')}"
                return f"CASE WHEN {more} THEN 'true' ELSE 'false' END"
            if name in ("start_cursor", "end_cursor"):
                alias, outer = self.alias("s"), self.alias("s")
                rows = page_rows(f"{alias}.created_at, {alias}.id", alias)
                way = direction if name == "start_cursor" else reverse
                return (
                    f"coalesce((SELECT {self.session_cursor(outer)} FROM ({rows}) {outer}"
                    f" ORDER BY {order(outer, way)} LIMIT 1), 'null')"
                )
            if name == "next_cursor":
                more, end = page_field("has_next_page"), page_field("end_cursor")
                return f"CASE WHEN {more} = 'true' THEN {end} ELSE 'null' END"
            if name == "total_count":
                alias = self.alias("s")
                conditions = self.session_conditions(query, alias, keyset=False)
                return self.number(f"(SELECT count(*) FROM sessions {alias} WHERE {conditions})")
            raise ValueError(f"not a page field: {name}")

        return self.obj(page.entries, part)


Statement = tuple[str, tuple[Any, ...]]


@lru_cache(maxsize=1024)
def render(plan: ReadPlan, sqlite: bool, *, keyed: bool = False) -> Statement:
    """The statement of `plan` and what each placeholder stands for, in order. `keyed`: it
    also checks the caller's key (`KEY`, its hash): no row for an unknown or revoked key, else
    the caller's columns (`PRINCIPAL_COLUMNS`), then the answer for the key's organisation."""
    organization = "k.organization_id" if keyed else None
    renderer = Renderer(SQLITE if sqlite else POSTGRES, plan.enum_case, organization=organization)
    source = KEY_SOURCE
    if plan.top == "row":
        # One session's row, with its version beside the answer; nothing when it is missing.
        ((_, found),) = plan.entries
        assert isinstance(found, read_plan.SessionById)
        ((_, only),) = found.entries
        s = renderer.alias("s")
        shown = renderer.value(only, lambda value: renderer.session_part(value, s))
        version = SessionRecord.version_sql(s)
        session = f"{s}.id = {renderer.param(found.id, 'text')} AND {s}.organization_id = "
        if keyed:
            shown, version = (
                f"CASE WHEN {s}.id IS NULL THEN NULL ELSE {x} END" for x in (shown, version)
            )
            source += f" LEFT JOIN sessions {s} ON {session}k.organization_id"
            body = f"{shown}, {version}"
        else:
            body = f"{shown}, {version} FROM sessions {s} WHERE {session}{renderer.org()}"
    elif plan.top == "single":
        ((_, only),) = plan.entries
        body = renderer.value(only, renderer.root)
    else:
        body = renderer.obj(plan.entries, renderer.root)
    if keyed:
        key = live_key(renderer.param(KEY, "text"))
        body = f"{PRINCIPAL_COLUMNS}, {body} FROM {source} WHERE {key}"
    return f"SELECT {body}", tuple(renderer.slots)


async def _row(
    db: Database, caller: str, plan: ReadPlan, values: Sequence[Any], *, keyed: bool
) -> Any:
    """`caller` is the organisation's id, or the key's hash when the statement checks the key."""
    sql, slots = render(plan, db.is_sqlite, keyed=keyed)
    now, bound = clock.now(), []
    for slot in slots:
        value = caller if slot in (ORGANIZATION, KEY) else now if slot == NOW else values[slot]
        if db.is_sqlite and isinstance(value, datetime):  # stored as text there
            value = to_rfc3339(value).replace("T", " ")[:-1] + "000"
        bound.append(value)
    return await db.lean.fetch_row(sql, bound)


async def read(db: Database, organization_id: str, plan: ReadPlan, values: Sequence[Any]) -> str:
    """The answer of `plan` for the caller's organisation, as JSON text: one statement."""
    row = await _row(db, organization_id, plan, values, keyed=False)
    return row[0]  # type: ignore[no-any-return]


async def read_as(
    db: Database, key_hash: str, plan: ReadPlan, values: Sequence[Any]
) -> tuple[Principal, Any] | None:
    """The caller of a live key and the answer `read` (or, for a `top="row"` plan,
    `read_row`) gives it, in one statement; None for an unknown or revoked key."""
    row = await _row(db, key_hash, plan, values, keyed=True)
    if row is None:
        return None
    if plan.top != "row":
        return principal_from_row(row), row[6]
    return principal_from_row(row), ((row[6], row[7]) if row[6] is not None else None)


async def read_row(
    db: Database, organization_id: str, plan: ReadPlan, values: Sequence[Any]
) -> tuple[str, str] | None:
    """A `top="row"` plan's answer and the session's version (`id.revision.sequence`)."""
    row = await _row(db, organization_id, plan, values, keyed=False)
    return (row[0], row[1]) if row is not None else None
