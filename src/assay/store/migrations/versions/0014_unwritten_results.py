"""planned results of a run inserted as they finish: the plan's size and first result id

Revision ID: a7d2e5f1
Revises: f4a1c9d2
Create Date: 2026-12-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d2e5f1"
down_revision: str | None = "f4a1c9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing runs keep NULLs: every one of their planned results has a row.
    op.add_column("experiments", sa.Column("plan_size", sa.Integer(), nullable=True))
    op.add_column("experiments", sa.Column("unwritten_base", sa.String(length=36), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE on SQLite too: recreating the table would cascade-delete its runs.
    op.drop_column("experiments", "unwritten_base")
    op.drop_column("experiments", "plan_size")
