"""Online evaluation: rules, the traces waiting for them, what they scored

Revision ID: a2d5f8b3
Revises: f1a4c7e2
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from assay.store.types import Json, UtcDateTime

revision: str = "a2d5f8b3"
down_revision: str | None = "f1a4c7e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_scores_project_id_source_created_at"),
        "scores",
        ["project_id", "source", "created_at"],
        unique=False,
    )
    op.create_table(
        "online_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("filter", Json(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("evaluators", Json(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_online_rules_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_rules")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_online_rules_project_id_name")),
    )
    op.create_table(
        "online_pending",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("touched_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_online_pending_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "trace_id", name=op.f("pk_online_pending")),
    )
    op.create_index(
        op.f("ix_online_pending_touched_at"), "online_pending", ["touched_at"], unique=False
    )
    op.create_table(
        "online_evaluations",
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("evaluator", sa.String(length=200), nullable=False),
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("score_id", sa.String(length=36), nullable=True),
        sa.Column("ingested_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["online_rules.id"],
            name=op.f("fk_online_evaluations_rule_id_online_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_online_evaluations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["score_id"],
            ["scores.id"],
            name=op.f("fk_online_evaluations_score_id_scores"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "rule_id", "evaluator", "trace_id", name=op.f("pk_online_evaluations")
        ),
    )
    op.create_index(
        op.f("ix_online_evaluations_project_id_created_at"),
        "online_evaluations",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_online_evaluations_score_id"), "online_evaluations", ["score_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_online_evaluations_score_id"), table_name="online_evaluations")
    op.drop_index(
        op.f("ix_online_evaluations_project_id_created_at"), table_name="online_evaluations"
    )
    op.drop_table("online_evaluations")
    op.drop_index(op.f("ix_online_pending_touched_at"), table_name="online_pending")
    op.drop_table("online_pending")
    op.drop_table("online_rules")
    op.drop_index(op.f("ix_scores_project_id_source_created_at"), table_name="scores")
