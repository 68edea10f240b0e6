"""rate windows: per-organisation request budgets shared by server processes

Revision ID: 0004_limits
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_limits"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("organization_id", sa.String(length=255), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "minute"),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
