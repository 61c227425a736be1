"""The schema: one SQLAlchemy Core metadata for SQLite and PostgreSQL.

Every table carries ``project_id`` (directly or through its parent) and every query filters by it.
Whatever is filtered, sorted or aggregated is a real, indexed column; user payloads are JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from assay.store.types import Json, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)


def _id() -> Column[str]:
    return Column("id", ID, primary_key=True)


def _project() -> Column[str]:
    return Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)


def _created() -> Column[Any]:
    return Column("created_at", UtcDateTime, nullable=False)


projects = Table(
    "projects",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _project(),
    Column("name", String(200)),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False, server_default="write"),
    _created(),
    Column("expires_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# Destructive and security-relevant actions, newest last; written with the action itself.
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    _project(),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target_id", String(200), nullable=False),
    Column("details", Json, nullable=False),
    Index(None, "project_id", "at", "id"),
)

datasets = Table(
    "datasets",
    metadata,
    _id(),
    _project(),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("tags", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("input_schema", Json),
    Column("expected_output_schema", Json),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Column("item_count", Integer, nullable=False, server_default=text("0")),
    Column("next_sort_order", Integer, nullable=False, server_default=text("0")),
    _created(),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
    Index(None, "project_id", "created_at"),
)

dataset_policies = Table(
    "dataset_policies",
    metadata,
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("policy", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    _created(),
    Column("item_count", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("message", Text),
)

# Items are versioned append-only: a row is one state of an item, alive for dataset versions
# valid_from <= v < valid_to (valid_to NULL = still current). Deleting an item closes its row.
dataset_items = Table(
    "dataset_items",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False),
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("valid_from", Integer, nullable=False),
    Column("valid_to", Integer),
    Column("input", Json, nullable=False),
    Column("expected_output", Json),
    Column("context", Json),
    Column("metadata", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("source", String(16), nullable=False),
    Column("source_trace_id", String(64)),
    Column("sort_order", Integer, nullable=False),
    Column("archived", Boolean, nullable=False, server_default=text("false")),
    _created(),
    Column("updated_at", UtcDateTime, nullable=False),
    # 64 bits of SHA-256 over the dataset id and the input's sorted-key JSON
    # (store/item_rows.py: InputKeys): uploads that name items by input find them through it.
    # A small random-order index, so a million-row import keeps it in the page cache.
    Column("input_key", BigInteger),
    Index(None, "dataset_id", "valid_to", "sort_order", "id"),
    Index(None, "input_key"),
    Index(None, "dataset_id", "valid_from"),
    Index(None, "id", "valid_to"),
)

evaluators = Table(
    "evaluators",
    metadata,
    _id(),
    _project(),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(100), nullable=False),
    Column("params", Json, nullable=False),
    Column("mapping", Json, nullable=False),
    Column("threshold", Json),
    _created(),
    UniqueConstraint("project_id", "name", "version"),
)

dataset_evaluators = Table(
    "dataset_evaluators",
    metadata,
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("evaluator_id", ID, ForeignKey("evaluators.id", ondelete="CASCADE"), primary_key=True),
    _created(),
)

experiments = Table(
    "experiments",
    metadata,
    _id(),
    _project(),
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="SET NULL")),
    Column("dataset_version", Integer),
    Column("name", String(300), nullable=False),
    Column("description", Text),
    Column("config", Json, nullable=False),
    Column("config_hash", String(64)),
    Column("selection", Json),
    Column("evaluator_ids", Json, nullable=False),
    Column("scorers", Json, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("trials", Integer, nullable=False, server_default=text("1")),
    Column("run_tag", String(200)),
    Column("tags", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("notes", Text),
    Column("external", Boolean, nullable=False, server_default=text("false")),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    # Bumped by every write to the run's results or scores: stored run frames of an older
    # revision are stale (see store/run_frames.py).
    Column("data_revision", Integer, nullable=False, server_default=text("0")),
    Column("worker_id", String(100)),
    Column("heartbeat_at", UtcDateTime),
    # The fencing token of the run's lease, bumped by every claim (see store/lease.py).
    Column("lease", Integer, nullable=False, server_default=text("0")),
    _created(),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    # Active time across interruptions (see store/active_time.py): seconds of the ended
    # periods, and the start of the current one while the run is active.
    Column("active_s", Float),
    Column("resumed_at", UtcDateTime),
    # How many results the plan holds; and while the plan's results are inserted as they
    # finish (the engine's own runs write no pending rows), the id of its first result: the
    # others follow it, and those without a row are derived from the plan (store/unwritten.py).
    Column("plan_size", Integer),
    Column("unwritten_base", String(36)),
    Index(None, "project_id", "created_at"),
    Index(None, "dataset_id", "created_at"),
    Index(None, "project_id", "run_tag"),
    Index(None, "status"),
)

run_frames = Table(
    "run_frames",
    metadata,
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    Column("data_revision", Integer, nullable=False),
    _created(),
    Column("data", LargeBinary, nullable=False),  # last: see migration 0012
)

# A PostgreSQL snapshot in parts of a megabyte, written and read one at a time (its run_frames
# row then holds no data; see assay.store.run_frames).
run_frame_parts = Table(
    "run_frame_parts",
    metadata,
    Column(
        "experiment_id",
        ID,
        ForeignKey("run_frames.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("part", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Aggregates a finished run's pages show (its summary, histograms), as JSON, stamped with the
# data revision they were computed at (see assay.store.run_aggregates).
run_aggregates = Table(
    "run_aggregates",
    metadata,
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(300), primary_key=True),
    Column("data_revision", Integer, nullable=False),
    Column("value", Text, nullable=False),
    _created(),
)

results = Table(
    "results",
    metadata,
    _id(),
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", ID),
    Column("repetition", Integer, nullable=False, server_default=text("0")),
    Column("status", String(16), nullable=False),
    Column("input", Json),
    Column("expected_output", Json),
    Column("output", Json),
    Column("error", Text),
    Column("latency_ms", Float),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost", Float),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("passed", Boolean),
    Column("trace_id", String(64)),
    Column("observation_id", String(64)),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    UniqueConstraint("experiment_id", "item_id", "repetition"),
    Index(None, "experiment_id", "status"),
    Index(None, "trace_id"),  # a trace's run result (the traces pages)
    # A run's results in latency or cost order (result pages, percentiles).
    Index(None, "experiment_id", "latency_ms", "id"),
    Index(None, "experiment_id", "cost", "id"),
)

scores = Table(
    "scores",
    metadata,
    _id(),
    _project(),
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE")),
    Column("result_id", ID, ForeignKey("results.id", ondelete="CASCADE")),
    Column("trace_id", String(64)),
    Column("name", String(200), nullable=False),
    Column("data_type", String(16), nullable=False),
    Column("numeric_value", Float),
    Column("string_value", Text),
    Column("passed", Boolean),
    Column("reason", Text),
    Column("source", String(16), nullable=False),
    Column("evaluator_id", ID),
    Column("evaluator_version", Integer),
    Column("cost", Float),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("latency_ms", Float),
    Column("metadata", Json, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("result_id", "name", "source"),
    # A run's scores by name, and its results in a score's order.
    Index(None, "experiment_id", "name", "numeric_value", "result_id"),
    Index(None, "trace_id"),
    Index(None, "project_id", "source", "created_at"),  # online scores over time
    Index(None, "project_id", "trace_id", "name"),  # a trace's scores by name
)

# Target responses keyed by a hash of (target config, item input), for cheap re-runs.
response_cache = Table(
    "response_cache",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("output", Json),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost", Float),
    Column("latency_ms", Float),
    _created(),
)

prompts = Table(
    "prompts",
    metadata,
    _id(),
    _project(),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("template", Text),
    Column("messages", Json),
    Column("model_config", Json, nullable=False),
    _created(),
    UniqueConstraint("project_id", "name", "version"),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("label", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
)

endpoints = Table(
    "endpoints",
    metadata,
    _id(),
    _project(),
    Column("name", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("method", String(10), nullable=False),
    Column("headers", Json, nullable=False),
    Column("secret_headers", Json, nullable=False),
    Column("body_template", Text),
    Column("output_path", String(500)),
    Column("timeout_s", Float, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
)

connections = Table(
    "connections",
    metadata,
    _id(),
    _project(),
    Column("name", String(200), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("base_url", Text),
    Column("api_key", Text),
    _created(),
    UniqueConstraint("project_id", "name"),
)

# Trace and observation ids come from callers: they are unique per project, not globally.
traces = Table(
    "traces",
    metadata,
    Column("id", String(64), nullable=False),
    _project(),
    Column("name", String(300)),
    Column("input", Json),
    Column("output", Json),
    Column("metadata", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("session_id", String(200)),
    Column("user_id", String(200)),
    Column("start_time", UtcDateTime),
    Column("end_time", UtcDateTime),
    _created(),
    PrimaryKeyConstraint("project_id", "id"),
    Index(None, "project_id", "created_at"),
)

observations = Table(
    "observations",
    metadata,
    Column("id", String(64), nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("parent_id", String(64)),
    Column("type", String(16), nullable=False),
    Column("name", String(300)),
    Column("start_time", UtcDateTime),
    Column("end_time", UtcDateTime),
    Column("input", Json),
    Column("output", Json),
    Column("model", String(200)),
    Column("model_parameters", Json),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost", Float),
    Column("level", String(16)),
    Column("status_message", Text),
    Column("metadata", Json, nullable=False),
    Column("project_id", ID, nullable=False),
    PrimaryKeyConstraint("project_id", "id"),
    ForeignKeyConstraint(
        ["project_id", "trace_id"], ["traces.project_id", "traces.id"], ondelete="CASCADE"
    ),
    Index(None, "project_id", "trace_id", "start_time"),
)

# Online evaluation (migration 0009): rules that score production traces as they arrive.
online_rules = Table(
    "online_rules",
    metadata,
    _id(),
    _project(),
    Column("name", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    # Which traces: trace name (exact or glob), tags, metadata, model, errors (see domain).
    Column("filter", Json, nullable=False),
    Column("sample_rate", Float, nullable=False),
    # The saved evaluators to apply: [{evaluator, version, mapping}].
    Column("evaluators", Json, nullable=False),
    _created(),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
)

# Traces waiting to be evaluated: written by every ingestion while the project has an enabled
# rule; ``touched_at`` is the last ingestion, so a trace is ready once it settled.
online_pending = Table(
    "online_pending",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("touched_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(100)),
    Column("claimed_until", UtcDateTime),
    PrimaryKeyConstraint("project_id", "trace_id"),
    Index(None, "touched_at"),
)

# One row per (rule, evaluator, trace) ever scored: written in the score's transaction, its key
# is what makes online scoring exactly once.
online_evaluations = Table(
    "online_evaluations",
    metadata,
    Column("rule_id", ID, ForeignKey("online_rules.id", ondelete="CASCADE"), nullable=False),
    Column("evaluator", String(200), nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("score_id", ID, ForeignKey("scores.id", ondelete="SET NULL")),
    Column("ingested_at", UtcDateTime),
    _created(),
    PrimaryKeyConstraint("rule_id", "evaluator", "trace_id"),
    Index(None, "project_id", "created_at"),
    Index(None, "score_id"),
)

# Uploaded results waiting for (and scored by) the dataset's attached evaluators, one row per
# (result, evaluator version) ever queued: the queue while ``done_at`` is NULL, the ledger after.
upload_scoring = Table(
    "upload_scoring",
    metadata,
    Column("result_id", ID, ForeignKey("results.id", ondelete="CASCADE"), nullable=False),
    Column("evaluator_id", ID, ForeignKey("evaluators.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(100)),
    Column("claimed_until", UtcDateTime),
    Column("done_at", UtcDateTime),
    PrimaryKeyConstraint("result_id", "evaluator_id"),
    Index(None, "experiment_id", "done_at"),
    Index(None, "done_at", "queued_at"),
    Index(None, "evaluator_id"),
)
