"""stored run frames and the data revision that keeps them fresh

Revision ID: c5e8a1f3
Revises: b4d2f816
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assay.store.types

revision: str = "c5e8a1f3"
down_revision: str | None = "b4d2f816"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "experiments",
        sa.Column("data_revision", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "run_frames",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("data_revision", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", assay.store.types.UtcDateTime(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_run_frames_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_run_frames")),
    )


def downgrade() -> None:
    op.drop_table("run_frames")
    # A plain ALTER TABLE on SQLite too: recreating the table would cascade-delete its runs.
    op.drop_column("experiments", "data_revision")
