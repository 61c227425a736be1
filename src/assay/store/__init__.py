"""Storage: SQLAlchemy Core tables, migrations and the repositories every layer above uses.

ORM rows never leave this package: repositories return the records of ``assay.domain``.
"""

from __future__ import annotations

from assay.config import Settings
from assay.store.analytics import Analytics
from assay.store.cache import CachedResponse, ResponseCache
from assay.store.connections import Connections, Credentials
from assay.store.dataset_runs import DatasetRuns
from assay.store.datasets import Datasets, VersionChange
from assay.store.db import Database
from assay.store.endpoints import Endpoints
from assay.store.evaluators import Evaluators
from assay.store.experiments import Experiments, WorkItem
from assay.store.keys import Keys
from assay.store.migrate import ensure_schema
from assay.store.policies import Policies
from assay.store.projects import ensure_project
from assay.store.prompts import Prompts
from assay.store.recording import Completion
from assay.store.scores import Scores, StoredResult
from assay.store.traces import Traces


class Store:
    """Every repository, scoped to one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id
        self.datasets = Datasets(db, project_id)
        self.prompts = Prompts(db, project_id)
        self.endpoints = Endpoints(db, project_id)
        self.traces = Traces(db, project_id)
        self.keys = Keys(db, project_id)
        self.evaluators = Evaluators(db, project_id)
        self.analytics = Analytics(db, project_id)
        self.experiments = Experiments(db, project_id)
        self.cache = ResponseCache(db, project_id)
        self.connections = Connections(db, project_id)
        self.dataset_runs = DatasetRuns(db, project_id)
        self.policies = Policies(db, project_id)
        self.scores = Scores(db, project_id)

    def close(self) -> None:
        self.db.dispose()


def open_store(
    settings: Settings | None = None,
    *,
    url: str | None = None,
    project: str | None = None,
    migrate: bool = True,
) -> Store:
    """Open the configured database, apply pending migrations and select a project."""
    settings = settings or Settings()
    db = Database(
        url or settings.resolved_database_url,
        echo=settings.echo_sql,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    if migrate:
        ensure_schema(db)
    return Store(db, ensure_project(db, project or settings.project).id)


__all__ = [
    "Analytics",
    "CachedResponse",
    "Completion",
    "Connections",
    "Credentials",
    "Database",
    "DatasetRuns",
    "Datasets",
    "Endpoints",
    "Evaluators",
    "Experiments",
    "Keys",
    "Policies",
    "Prompts",
    "ResponseCache",
    "Scores",
    "Store",
    "StoredResult",
    "Traces",
    "VersionChange",
    "WorkItem",
    "open_store",
]
