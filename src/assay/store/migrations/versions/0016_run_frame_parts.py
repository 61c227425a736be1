"""run_frame_parts: a PostgreSQL snapshot stored in parts of a megabyte

PostgreSQL has no incremental blob I/O: a snapshot kept as one ``bytea`` value is written and
read whole, so a 1,000,000-result run's 65 MB archive was held in memory two or three times
over while it was saved or loaded. Its parts are written and read one at a time instead
(SQLite keeps the single blob, which it reads and writes in place).

Revision ID: c4d7e9b1
Revises: b8e3f6a2
Create Date: 2026-12-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4d7e9b1"
down_revision: str | None = "b8e3f6a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_frame_parts",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["run_frames.experiment_id"],
            name=op.f("fk_run_frame_parts_experiment_id_run_frames"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "part", name=op.f("pk_run_frame_parts")),
    )


def downgrade() -> None:
    op.drop_table("run_frame_parts")
