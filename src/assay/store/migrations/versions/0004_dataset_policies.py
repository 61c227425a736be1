"""dataset regression policies

Revision ID: b4d2f816
Revises: b3f1c0d7
Create Date: 2026-11-22 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assay.store.types

revision: str = "b4d2f816"
down_revision: str | None = "b3f1c0d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_policies",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("policy", assay.store.types.Json(), nullable=False),
        sa.Column("updated_at", assay.store.types.UtcDateTime(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_policies_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_dataset_policies")),
    )


def downgrade() -> None:
    op.drop_table("dataset_policies")
