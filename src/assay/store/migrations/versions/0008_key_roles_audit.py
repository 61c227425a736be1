"""API key roles and expiry; the audit log

Revision ID: f1a4c7e2
Revises: e8b3c6a1
Create Date: 2026-12-06 09:00:00

Keys created before roles existed become ``write`` keys (what they could do, minus the admin
actions) and never expire.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from assay.store.types import Json, UtcDateTime

revision: str = "f1a4c7e2"
down_revision: str | None = "e8b3c6a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), server_default="write", nullable=False)
        )
        batch_op.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("details", Json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_audit_log_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_project_id_at_id"), "audit_log", ["project_id", "at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_project_id_at_id"), table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("role")
