"""trace and observation ids are unique per project

Revision ID: b3f1c0d7
Revises: e7c1a9d2
Create Date: 2026-11-22 03:40:00

Traces are keyed by (project_id, id) and observations by (project_id, id) with a composite
foreign key to their trace, so one project's ids neither collide with nor reveal another's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3f1c0d7"
down_revision: str | None = "e7c1a9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch_op:
        batch_op.drop_constraint("fk_observations_trace_id_traces", type_="foreignkey")
    with op.batch_alter_table("traces") as batch_op:
        batch_op.drop_constraint("pk_traces", type_="primary")
        batch_op.create_primary_key("pk_traces", ["project_id", "id"])
    with op.batch_alter_table("observations") as batch_op:
        batch_op.add_column(sa.Column("project_id", sa.String(length=36), nullable=True))
    op.execute(
        "UPDATE observations SET project_id = "
        "(SELECT traces.project_id FROM traces WHERE traces.id = observations.trace_id)"
    )
    with op.batch_alter_table("observations") as batch_op:
        batch_op.alter_column("project_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_constraint("pk_observations", type_="primary")
        batch_op.create_primary_key("pk_observations", ["project_id", "id"])
        batch_op.create_foreign_key(
            "fk_observations_project_id_traces",
            "traces",
            ["project_id", "trace_id"],
            ["project_id", "id"],
            ondelete="CASCADE",
        )
        batch_op.drop_index("ix_observations_trace_id_start_time")
        batch_op.create_index(
            "ix_observations_project_id_trace_id_start_time",
            ["project_id", "trace_id", "start_time"],
            unique=False,
        )


def downgrade() -> None:
    # Ids reused across projects cannot share the old global keys: keep the first of each.
    op.execute(
        "DELETE FROM observations WHERE EXISTS (SELECT 1 FROM observations o2 "
        "WHERE o2.id = observations.id AND o2.project_id < observations.project_id)"
    )
    op.execute(
        "DELETE FROM observations WHERE EXISTS (SELECT 1 FROM traces t2 "
        "WHERE t2.id = observations.trace_id AND t2.project_id < observations.project_id)"
    )
    op.execute(
        "DELETE FROM traces WHERE EXISTS (SELECT 1 FROM traces t2 "
        "WHERE t2.id = traces.id AND t2.project_id < traces.project_id)"
    )
    with op.batch_alter_table("observations") as batch_op:
        batch_op.drop_constraint("fk_observations_project_id_traces", type_="foreignkey")
        batch_op.drop_index("ix_observations_project_id_trace_id_start_time")
        batch_op.drop_constraint("pk_observations", type_="primary")
        batch_op.create_primary_key("pk_observations", ["id"])
    with op.batch_alter_table("observations") as batch_op:
        batch_op.drop_column("project_id")
        batch_op.create_index("ix_observations_trace_id_start_time", ["trace_id", "start_time"])
    with op.batch_alter_table("traces") as batch_op:
        batch_op.drop_constraint("pk_traces", type_="primary")
        batch_op.create_primary_key("pk_traces", ["id"])
    with op.batch_alter_table("observations") as batch_op:
        batch_op.create_foreign_key(
            "fk_observations_trace_id_traces",
            "traces",
            ["trace_id"],
            ["id"],
            ondelete="CASCADE",
        )
