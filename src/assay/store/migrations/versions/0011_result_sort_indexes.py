"""Indexes that read a run's results in latency, cost or score order

The scores index by (experiment_id, name, numeric_value, result_id) replaces the one by
(experiment_id, name), its prefix.

Revision ID: d5a8c1f6
Revises: c4f7b0e5
Create Date: 2026-12-16 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d5a8c1f6"
down_revision: str | None = "c4f7b0e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_results_experiment_id_latency_ms_id"),
        "results",
        ["experiment_id", "latency_ms", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_results_experiment_id_cost_id"),
        "results",
        ["experiment_id", "cost", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_scores_experiment_id_name_numeric_value_result_id"),
        "scores",
        ["experiment_id", "name", "numeric_value", "result_id"],
        unique=False,
    )
    op.drop_index(op.f("ix_scores_experiment_id_name"), table_name="scores")


def downgrade() -> None:
    op.create_index(
        op.f("ix_scores_experiment_id_name"), "scores", ["experiment_id", "name"], unique=False
    )
    op.drop_index(op.f("ix_scores_experiment_id_name_numeric_value_result_id"), table_name="scores")
    op.drop_index(op.f("ix_results_experiment_id_cost_id"), table_name="results")
    op.drop_index(op.f("ix_results_experiment_id_latency_ms_id"), table_name="results")
