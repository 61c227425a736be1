"""active time of runs across interruptions

Revision ID: d2a7f4b9
Revises: c5e8a1f3
Create Date: 2026-12-04 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assay.store.types

revision: str = "d2a7f4b9"
down_revision: str | None = "c5e8a1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing runs keep NULLs: their duration stays finished_at - started_at.
    op.add_column("experiments", sa.Column("active_s", sa.Float(), nullable=True))
    op.add_column(
        "experiments",
        sa.Column("resumed_at", assay.store.types.UtcDateTime(length=32), nullable=True),
    )


def downgrade() -> None:
    # A plain ALTER TABLE on SQLite too: recreating the table would cascade-delete its runs.
    op.drop_column("experiments", "resumed_at")
    op.drop_column("experiments", "active_s")
