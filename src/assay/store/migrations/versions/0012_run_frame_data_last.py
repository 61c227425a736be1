"""run_frames stores its snapshot blob as the last column

SQLite writes a large snapshot into a ``zeroblob`` and then fills it in blocks; a zero-filled
blob is kept out of memory only when it is the record's last column, so with ``created_at``
after ``data`` saving a 90 MB snapshot briefly held two copies of its zeros. Stored snapshots
are a cache (a comparison rebuilds a missing one from the results), so the table is recreated
empty with ``data`` last rather than copied.

Revision ID: e3b9a2c7
Revises: d5a8c1f6
Create Date: 2026-12-20 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import assay.store.types

revision: str = "e3b9a2c7"
down_revision: str | None = "d5a8c1f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(data_last: bool) -> None:
    data: sa.Column[bytes] = sa.Column("data", sa.LargeBinary(), nullable=False)
    created: sa.Column[object] = sa.Column(
        "created_at", assay.store.types.UtcDateTime(length=32), nullable=False
    )
    op.create_table(
        "run_frames",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("data_revision", sa.Integer(), nullable=False),
        *((created, data) if data_last else (data, created)),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_run_frames_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_run_frames")),
    )


def upgrade() -> None:
    op.drop_table("run_frames")
    _create(data_last=True)


def downgrade() -> None:
    op.drop_table("run_frames")
    _create(data_last=False)
