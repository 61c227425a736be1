"""Uploaded results scored in the background; indexes of the traces pages

Revision ID: c4f7b0e5
Revises: a2d5f8b3
Create Date: 2026-12-14 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from assay.store.types import UtcDateTime

revision: str = "c4f7b0e5"
down_revision: str | None = "a2d5f8b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_results_trace_id"), "results", ["trace_id"], unique=False)
    op.create_index(
        op.f("ix_scores_project_id_trace_id_name"),
        "scores",
        ["project_id", "trace_id", "name"],
        unique=False,
    )
    op.create_table(
        "upload_scoring",
        sa.Column("result_id", sa.String(length=36), nullable=False),
        sa.Column("evaluator_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("queued_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.Column("done_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["results.id"],
            name=op.f("fk_upload_scoring_result_id_results"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["evaluators.id"],
            name=op.f("fk_upload_scoring_evaluator_id_evaluators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_upload_scoring_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_upload_scoring_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", "evaluator_id", name=op.f("pk_upload_scoring")),
    )
    op.create_index(
        op.f("ix_upload_scoring_experiment_id_done_at"),
        "upload_scoring",
        ["experiment_id", "done_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_upload_scoring_done_at_queued_at"),
        "upload_scoring",
        ["done_at", "queued_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_upload_scoring_evaluator_id"), "upload_scoring", ["evaluator_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_upload_scoring_evaluator_id"), table_name="upload_scoring")
    op.drop_index(op.f("ix_upload_scoring_done_at_queued_at"), table_name="upload_scoring")
    op.drop_index(op.f("ix_upload_scoring_experiment_id_done_at"), table_name="upload_scoring")
    op.drop_table("upload_scoring")
    op.drop_index(op.f("ix_scores_project_id_trace_id_name"), table_name="scores")
    op.drop_index(op.f("ix_results_trace_id"), table_name="results")
