"""Regression policies stored per dataset.

The store keeps a policy as a JSON mapping; ``assay.analysis`` validates it (as a
``RegressionPolicy``) before it is written and after it is read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, or_, select

from assay.errors import InvalidInput, NotFound
from assay.store.db import Database
from assay.store.tables import dataset_policies, datasets
from assay.store.types import utcnow


class Policies:
    """Get, set and clear the regression policy of a dataset, within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def _dataset_id(self, conn: Connection, ref: str) -> str:
        found = conn.execute(
            select(datasets.c.id).where(
                datasets.c.project_id == self.project_id,
                or_(datasets.c.id == ref, datasets.c.name == ref),
            )
        ).scalar()
        if found is None:
            raise NotFound(f"dataset {ref!r} not found", field="dataset")
        return str(found)

    def get(self, dataset: str) -> dict[str, Any] | None:
        """The stored policy of a dataset (id or name), or None when it has none."""
        with self.db.read() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            policy = conn.execute(
                select(dataset_policies.c.policy).where(dataset_policies.c.dataset_id == dataset_id)
            ).scalar()
        return None if policy is None else dict(policy)

    def set(self, dataset: str, policy: dict[str, Any]) -> None:
        """Store (or replace) a dataset's policy."""
        if not isinstance(policy, dict):
            raise InvalidInput("a policy must be a mapping of settings", field="policy")
        with self.db.write() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            conn.execute(
                delete(dataset_policies).where(dataset_policies.c.dataset_id == dataset_id)
            )
            conn.execute(
                dataset_policies.insert().values(
                    dataset_id=dataset_id, policy=policy, updated_at=utcnow()
                )
            )

    def clear(self, dataset: str) -> bool:
        """Remove a dataset's policy; False when it had none."""
        with self.db.write() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            gone = conn.execute(
                delete(dataset_policies).where(dataset_policies.c.dataset_id == dataset_id)
            ).rowcount
        return bool(gone)
