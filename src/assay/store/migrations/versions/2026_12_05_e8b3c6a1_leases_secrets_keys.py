"""run leases with fencing tokens

Revision ID: e8b3c6a1
Revises: d2a7f4b9
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8b3c6a1"
down_revision: str | None = "d2a7f4b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "experiments",
        sa.Column("lease", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    # A plain ALTER TABLE on SQLite too: recreating the table would cascade-delete its runs.
    op.drop_column("experiments", "lease")
