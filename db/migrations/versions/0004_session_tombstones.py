"""session tombstones: deleted sessions remembered for watchers that missed the hint

Revision ID: 0005_session_tombstones
Revises: 0002_idempotency
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_session_tombstones"
down_revision: str | None = "0002_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_tombstones",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=255), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("session_tombstones", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_tombstones_org_deleted", ["organization_id", "deleted_at"], unique=False
        )
        batch_op.create_index("ix_session_tombstones_deleted", ["deleted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_tombstones", schema=None) as batch_op:
        batch_op.drop_index("ix_session_tombstones_deleted")
        batch_op.drop_index("ix_session_tombstones_org_deleted")
    op.drop_table("session_tombstones")
