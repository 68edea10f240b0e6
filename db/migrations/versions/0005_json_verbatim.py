"""JSON columns as `json` on PostgreSQL: values come back as they were written

`jsonb` normalises what it stores (keys sorted, 1e19 written as 20 digits, -0.0 as 0.0),
so a session read back differed from the one created, and from SQLite. `json` keeps the
text. Rows stored before this revision keep what `jsonb` made of them: the original text
is gone. SQLite already stores JSON as text; nothing changes there. Restart the servers
after upgrading: a connection's statements prepared for `jsonb` parameters keep casting
what they write to `jsonb` (normalised, still correct) until it is replaced.

Revision ID: 0006_json_verbatim
Revises: 0005_session_tombstones
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_json_verbatim"
down_revision: str | None = "0005_session_tombstones"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "sessions": ("assembly_state", "plan", "prd", "product_object"),
    "events": ("payload",),
    "idempotency_keys": ("headers",),
}


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")


def _retype(type_name: str) -> None:
    """One `ALTER TABLE` per table, so each table is rewritten once, not once per column."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(
            f"ALTER COLUMN {c} TYPE {type_name} USING {c}::{type_name}" for c in columns
        )
        op.execute(f"ALTER TABLE {table} {changes}")
