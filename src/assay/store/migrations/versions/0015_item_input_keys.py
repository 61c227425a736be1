"""item input keys: a 64-bit integer per dataset and input replaces the hex input hash

Revision ID: b8e3f6a2
Revises: a7d2e5f1
Create Date: 2026-12-21 09:00:00
"""

import hashlib
import struct
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from assay.store.types import Json

revision: str = "b8e3f6a2"
down_revision: str | None = "a7d2e5f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000
_INT64 = struct.Struct(">q").unpack_from


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _input_key(dataset_id: str, value: Any) -> int:
    """This revision's key: SHA-256 over the dataset id and the input's sorted-key JSON, its
    first 8 bytes as a signed integer (``store/item_rows.py``: ``InputKeys``)."""
    key: int = _INT64(hashlib.sha256(dataset_id.encode() + b"\n" + _canonical(value)).digest())[0]
    return key


def _input_hash(dataset_id: str, value: Any) -> str:
    """The previous revision's hash: SHA-256 of the input's sorted-key JSON, in hex."""
    return hashlib.sha256(_canonical(value)).hexdigest()


def _fill(column: str, compute: Callable[[str, Any], Any]) -> None:
    """Set ``column`` of every item row from its dataset and input, a batch at a time in row
    order, so memory holds one batch whatever the table's size."""
    items = sa.table(
        "dataset_items",
        sa.column("row_id"),
        sa.column("dataset_id"),
        sa.column("input", Json()),
        sa.column(column),
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(items.c.row_id, items.c.dataset_id, items.c.input)
            .where(items.c.row_id > last)
            .order_by(items.c.row_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            sa.update(items)
            .where(items.c.row_id == sa.bindparam("rid"))
            .values({column: sa.bindparam("value")}),
            [{"rid": r.row_id, "value": compute(r.dataset_id, r.input)} for r in rows],
        )
        last = rows[-1].row_id


def upgrade() -> None:
    op.add_column("dataset_items", sa.Column("input_key", sa.BigInteger(), nullable=True))
    _fill("input_key", _input_key)
    op.create_index(
        op.f("ix_dataset_items_input_key"), "dataset_items", ["input_key"], unique=False
    )
    op.drop_index(op.f("ix_dataset_items_dataset_id_input_hash"), table_name="dataset_items")
    # Plain ALTER TABLEs on SQLite too: recreating a table would cascade-delete its rows.
    op.drop_column("dataset_items", "input_hash")


def downgrade() -> None:
    op.add_column("dataset_items", sa.Column("input_hash", sa.String(length=64), nullable=True))
    _fill("input_hash", _input_hash)
    op.create_index(
        op.f("ix_dataset_items_dataset_id_input_hash"),
        "dataset_items",
        ["dataset_id", "input_hash"],
        unique=False,
    )
    op.drop_index(op.f("ix_dataset_items_input_key"), table_name="dataset_items")
    op.drop_column("dataset_items", "input_key")
