"""response cache

Revision ID: e7c1a9d2
Revises: 0001
Create Date: 2026-11-22 03:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assay.store.types

revision: str = "e7c1a9d2"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "response_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("output", assay.store.types.Json(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("created_at", assay.store.types.UtcDateTime(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_response_cache_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "key", name=op.f("pk_response_cache")),
    )


def downgrade() -> None:
    op.drop_table("response_cache")
