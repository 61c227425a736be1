"""run leases with fencing tokens; stored secrets sealed with the server key; item input hashes

Revision ID: e8b3c6a1
Revises: d2a7f4b9
Create Date: 2026-12-05 09:00:00
"""

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import context, op

from assay.store.sealing import Keyring, load_keyring
from assay.store.types import Json

revision: str = "e8b3c6a1"
down_revision: str | None = "d2a7f4b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_endpoints = sa.table("endpoints", sa.column("id"), sa.column("secret_headers", Json()))
_connections = sa.table("connections", sa.column("id"), sa.column("api_key", sa.Text()))
_evaluators = sa.table("evaluators", sa.column("id"), sa.column("params", Json()))
_experiments = sa.table(
    "experiments", sa.column("id"), sa.column("config", Json()), sa.column("scorers", Json())
)


def _keyring() -> Keyring:
    found = context.config.attributes.get("keyring")
    return found if isinstance(found, Keyring) else load_keyring()


def _rewrite(table: sa.TableClause, columns: Sequence[str], change: Callable[[Any], Any]) -> None:
    """Apply ``change`` to the columns of every row, writing only the rows it changed."""
    conn = op.get_bind()
    cols = [table.c[name] for name in columns]
    for row in conn.execute(sa.select(table.c.id, *cols)).all():
        values = {name: change(row._mapping[name]) for name in columns}
        if any(values[name] != row._mapping[name] for name in columns):
            conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def _headers(change: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda headers: {k: change(v) for k, v in (headers or {}).items()}


def _text(change: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda value: change(value) if value else value


def input_hash(value: Any) -> str:
    """SHA-256 of an input as sorted-key JSON, the index key of this revision."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _hash_inputs() -> None:
    items = sa.table(
        "dataset_items", sa.column("row_id"), sa.column("input", Json()), sa.column("input_hash")
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(items.c.row_id, items.c.input)).all()
    for start in range(0, len(rows), 5000):
        conn.execute(
            sa.update(items)
            .where(items.c.row_id == sa.bindparam("rid"))
            .values(input_hash=sa.bindparam("hash")),
            [{"rid": r.row_id, "hash": input_hash(r.input)} for r in rows[start : start + 5000]],
        )


def upgrade() -> None:
    op.add_column(
        "experiments",
        sa.Column("lease", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("dataset_items", sa.Column("input_hash", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_dataset_items_dataset_id_input_hash"),
        "dataset_items",
        ["dataset_id", "input_hash"],
        unique=False,
    )
    _hash_inputs()
    keyring = _keyring()
    _rewrite(_endpoints, ["secret_headers"], _headers(keyring.seal))
    _rewrite(_connections, ["api_key"], _text(keyring.seal))
    _rewrite(_evaluators, ["params"], keyring.seal_tree)
    _rewrite(_experiments, ["config", "scorers"], keyring.seal_tree)


def downgrade() -> None:
    keyring = _keyring()
    _rewrite(_experiments, ["config", "scorers"], keyring.unseal_tree)
    _rewrite(_evaluators, ["params"], keyring.unseal_tree)
    _rewrite(_connections, ["api_key"], _text(keyring.unseal))
    _rewrite(_endpoints, ["secret_headers"], _headers(keyring.unseal))
    op.drop_index(op.f("ix_dataset_items_dataset_id_input_hash"), table_name="dataset_items")
    # Plain ALTER TABLEs on SQLite too: recreating a table would cascade-delete its rows.
    op.drop_column("dataset_items", "input_hash")
    op.drop_column("experiments", "lease")
