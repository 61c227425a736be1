"""Storage: SQLAlchemy Core tables, migrations and the repositories every layer above uses.

ORM rows never leave this package: repositories return the records of ``assay.domain``. The
interfaces (``assay.cli``, ``assay.server``) use only what this package exports: the
:class:`Store` facade and the few functions below, each imported on first use.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from assay.store.db import Database, is_in_memory

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.store.analytics import Analytics, configurations
    from assay.store.audit import AuditLog
    from assay.store.cache import CachedResponse, ResponseCache
    from assay.store.connections import Connections
    from assay.store.dataset_runs import DatasetRuns
    from assay.store.datasets import Datasets
    from assay.store.endpoints import Endpoints
    from assay.store.evaluators import Evaluators
    from assay.store.experiments import Experiments
    from assay.store.keys import Keys, authenticate, authenticate_key
    from assay.store.migrate import current_revision, ensure_schema, head_revision, upgrade
    from assay.store.online_rules import OnlineRules
    from assay.store.policies import Policies
    from assay.store.projects import ensure_project, get_project
    from assay.store.prompts import Prompts
    from assay.store.recording import Completion
    from assay.store.scores import Scores, StoredResult
    from assay.store.sealing import load_keyring
    from assay.store.traces import Traces
    from assay.store.versioning import VersionChange

# Imported on first use, so that a command touching one repository loads only that one.
_LAZY = {
    "Analytics": "assay.store.analytics",
    "AuditLog": "assay.store.audit",
    "CachedResponse": "assay.store.cache",
    "Completion": "assay.store.recording",
    "Connections": "assay.store.connections",
    "DatasetRuns": "assay.store.dataset_runs",
    "Datasets": "assay.store.datasets",
    "Endpoints": "assay.store.endpoints",
    "Evaluators": "assay.store.evaluators",
    "Experiments": "assay.store.experiments",
    "Keys": "assay.store.keys",
    "OnlineRules": "assay.store.online_rules",
    "Policies": "assay.store.policies",
    "Prompts": "assay.store.prompts",
    "ResponseCache": "assay.store.cache",
    "Scores": "assay.store.scores",
    "StoredResult": "assay.store.scores",
    "Traces": "assay.store.traces",
    "VersionChange": "assay.store.versioning",
    "authenticate": "assay.store.keys",
    "authenticate_key": "assay.store.keys",
    "configurations": "assay.store.analytics",
    "current_revision": "assay.store.migrate",
    "ensure_project": "assay.store.projects",
    "ensure_schema": "assay.store.migrate",
    "get_project": "assay.store.projects",
    "head_revision": "assay.store.migrate",
    "load_keyring": "assay.store.sealing",
    "upgrade": "assay.store.migrate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.store' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class Store:
    """Every repository, scoped to one project; each is created on first use.

    ``actor`` is who the audit log records for the changes made through this store: an API
    key's public key, ``"cli"`` (the default: the command line and the SDK on this machine),
    or ``"local"`` (a server running without keys).
    """

    def __init__(self, db: Database, project_id: str, actor: str = "cli") -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor

    @cached_property
    def datasets(self) -> Datasets:
        from assay.store.datasets import Datasets

        return Datasets(self.db, self.project_id, self.actor)

    @cached_property
    def prompts(self) -> Prompts:
        from assay.store.prompts import Prompts

        return Prompts(self.db, self.project_id)

    @cached_property
    def endpoints(self) -> Endpoints:
        from assay.store.endpoints import Endpoints

        return Endpoints(self.db, self.project_id, self.actor)

    @cached_property
    def traces(self) -> Traces:
        from assay.store.traces import Traces

        return Traces(self.db, self.project_id)

    @cached_property
    def keys(self) -> Keys:
        from assay.store.keys import Keys

        return Keys(self.db, self.project_id, self.actor)

    @cached_property
    def audit(self) -> AuditLog:
        from assay.store.audit import AuditLog

        return AuditLog(self.db, self.project_id)

    @cached_property
    def evaluators(self) -> Evaluators:
        from assay.store.evaluators import Evaluators

        return Evaluators(self.db, self.project_id, self.actor)

    @cached_property
    def analytics(self) -> Analytics:
        from assay.store.analytics import Analytics

        return Analytics(self.db, self.project_id)

    @cached_property
    def experiments(self) -> Experiments:
        from assay.store.experiments import Experiments

        return Experiments(self.db, self.project_id, self.actor)

    @cached_property
    def cache(self) -> ResponseCache:
        from assay.store.cache import ResponseCache

        return ResponseCache(self.db, self.project_id)

    @cached_property
    def connections(self) -> Connections:
        from assay.store.connections import Connections

        return Connections(self.db, self.project_id)

    @cached_property
    def dataset_runs(self) -> DatasetRuns:
        from assay.store.dataset_runs import DatasetRuns

        return DatasetRuns(self.db, self.project_id)

    @cached_property
    def policies(self) -> Policies:
        from assay.store.policies import Policies

        return Policies(self.db, self.project_id)

    @cached_property
    def online_rules(self) -> OnlineRules:
        from assay.store.online_rules import OnlineRules

        return OnlineRules(self.db, self.project_id, self.actor)

    @cached_property
    def scores(self) -> Scores:
        from assay.store.scores import Scores

        return Scores(self.db, self.project_id)

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
    from assay.config import Settings
    from assay.store.migrate import ensure_schema
    from assay.store.projects import ensure_project
    from assay.store.sealing import load_keyring

    settings = settings or Settings()
    db = Database(
        url or settings.resolved_database_url,
        echo=settings.echo_sql,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    db.keyring = load_keyring(settings)
    if migrate:
        ensure_schema(db)
    return Store(db, ensure_project(db, project or settings.project).id)


__all__ = [
    "Analytics",
    "AuditLog",
    "CachedResponse",
    "Completion",
    "Connections",
    "Database",
    "DatasetRuns",
    "Datasets",
    "Endpoints",
    "Evaluators",
    "Experiments",
    "Keys",
    "OnlineRules",
    "Policies",
    "Prompts",
    "ResponseCache",
    "Scores",
    "Store",
    "StoredResult",
    "Traces",
    "VersionChange",
    "authenticate",
    "authenticate_key",
    "configurations",
    "current_revision",
    "ensure_project",
    "ensure_schema",
    "get_project",
    "head_revision",
    "is_in_memory",
    "load_keyring",
    "open_store",
    "upgrade",
]
