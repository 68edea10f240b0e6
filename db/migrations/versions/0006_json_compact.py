"""Stored JSON rewritten as orjson's compact text

Reads now splice stored JSON into answers as it is (the database builds the answer's
JSON), so stored text must be exactly what the server would write: no spaces, keys in
order, floats as orjson writes them. Rows written before this revision by SQLAlchemy's
default serializer (`{"a": 1}`, `1e+19`, `\\u00e9`) are rewritten; values are unchanged.
A value orjson cannot read (none is accepted on write) is left as it is.

Revision ID: 0007_json_compact
Revises: 0006_json_verbatim
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0007_json_compact"
down_revision: str | None = "0006_json_verbatim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "sessions": ("assembly_state", "plan", "prd", "product_object"),
    "events": ("payload",),
}
BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    text = "::text" if bind.dialect.name == "postgresql" else ""
    for table, columns in COLUMNS.items():
        for column in columns:
            rows = bind.execute(
                sa.text(f"SELECT id, {column}{text} FROM {table} WHERE {column} IS NOT NULL")
            )
            changed = [
                {"id": row_id, "value": compact}
                for row_id, stored in rows
                if (compact := _compact(stored)) is not None and compact != stored
            ]
            cast = "CAST(:value AS json)" if text else ":value"
            update = sa.text(f"UPDATE {table} SET {column} = {cast} WHERE id = :id")
            for start in range(0, len(changed), BATCH):
                bind.execute(update, changed[start : start + BATCH])


def downgrade() -> None:
    """Nothing to undo: the values are the same, only their spelling changed."""


def _compact(stored: str) -> str | None:
    try:
        return orjson.dumps(orjson.loads(stored)).decode()
    except (orjson.JSONDecodeError, TypeError):
        return None
