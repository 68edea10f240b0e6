"""Count SQL statements an engine runs, to assert that cost is fixed by a query's shape."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from db.store.engine import Database


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(db: Database, *, leases: bool = True) -> Iterator[StatementCounter]:
    """`leases=False` leaves out the rate limit's lease (`rate_windows`): it is written once
    per slice of an organisation's minute, not per request, so a request that happens to
    start a new minute would otherwise count a few more statements than its shape costs."""
    counter = StatementCounter()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            return
        if leases or "rate_windows" not in statement:
            counter.statements.append(statement)

    engines = [e.sync_engine for e in db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_execute)
    db.lean.listeners.append(counter.statements.append)  # reads on the raw driver
    try:
        yield counter
    finally:
        db.lean.listeners.remove(counter.statements.append)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_execute)
