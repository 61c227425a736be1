"""Experiments (dataset runs) and their results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypedDict

from pydantic import ConfigDict, Field, field_serializer, field_validator

from assay.domain.common import JSON, Input, JsonObject, Record
from assay.domain.redaction import RedactedObject, RedactedObjects
from assay.domain.scores import Score
from assay.domain.statuses import ExperimentStatus, ResultStatus


class Experiment(Record):
    id: str
    project_id: str
    dataset_id: str | None
    dataset_version: int | None
    name: str
    description: str | None
    config: RedactedObject = Field(
        description="Target spec: prompt + model, endpoint, or function."
    )
    config_hash: str | None
    selection: JsonObject | None
    evaluator_ids: list[str]
    scorers: RedactedObjects
    concurrency: int
    trials: int
    run_tag: str | None
    tags: list[str]
    metadata: JsonObject
    notes: str | None
    external: bool
    status: ExperimentStatus
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def target_label(self) -> str:
        """What the run evaluated: the prompt and model, the function, or the endpoint."""
        if self.external:
            return "uploaded outputs"
        c = self.config
        source = c.get("source")
        stored = c.get("type") == "prompt" and ("label" in c or "version" in c)
        prompt = (
            c.get("prompt_name")
            or (source.get("prompt") if isinstance(source, dict) else None)
            or (c.get("prompt") if stored else None)
        )
        if prompt:
            model = c.get("model")
            return str(prompt) + (f" · {model}" if model else "")
        for key in ("function", "model", "url", "endpoint", "endpoint_id", "type"):
            if isinstance(c.get(key), str):
                return str(c[key])
        return "—"


#: Orders of run listings: a field, ``-`` first for descending.
EXPERIMENT_SORT_FIELDS = (
    "created_at", "name", "status", "dataset", "pass_rate", "cost", "latency",
)  # fmt: skip
ExperimentSort = Literal[
    "created_at", "-created_at", "name", "-name", "status", "-status", "dataset", "-dataset",
    "pass_rate", "-pass_rate", "cost", "-cost", "latency", "-latency",
]  # fmt: skip


class Result(Record):
    """One result (a run item): what one dataset item and repetition gave in an experiment,
    run by a target or uploaded, with its scores. The one record of a result: storage returns
    it, the API and the SDK carry it, the dashboard, the CLI and the analysis read it.

    On the wire three fields keep the names of the experiments API: ``item_id`` is written as
    ``dataset_item_id``, ``input`` as ``item_input`` and ``expected_output`` as
    ``item_expected_output`` (either name is read), and no error is written as ``""``.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    id: str
    experiment_id: str
    item_id: str | None = Field(alias="dataset_item_id", description="The dataset item it ran.")
    repetition: int = Field(description="The trial, from 0.")
    status: ResultStatus
    input: JSON = Field(alias="item_input", description="The item's input, as it ran.")
    expected_output: JSON = Field(alias="item_expected_output")
    output: JSON
    error: str | None = Field(description="Why the target call failed.")
    latency_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    attempts: int
    passed: bool | None = Field(description="The verdict of its scores' thresholds.")
    trace_id: str | None = Field(description="The trace that produced the output.")
    observation_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    scores: list[Score] = Field(default_factory=list)

    @field_validator("error", mode="before")
    @classmethod
    def _no_empty_error(cls, value: Any) -> Any:
        return value or None

    @field_serializer("error", when_used="json")
    def _error_text(self, value: str | None) -> str:
        return value or ""

    def score_values(self) -> dict[str, float | str | None]:
        """Each score's value: the number when there is one, else the category."""
        return {
            s.name: s.numeric_value if s.numeric_value is not None else s.string_value
            for s in self.scores
        }

    def export_record(self) -> ResultExport:
        """The flat record run exports write (CSV, JSON, JSONL) and ``to_pandas()`` shows."""
        return {
            "id": self.id,
            "item_id": self.item_id,
            "repetition": self.repetition,
            "status": self.status.value,
            "input": self.input,
            "expected_output": self.expected_output,
            "output": self.output,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "attempts": self.attempts,
            "passed": self.passed,
            "scores": self.score_values(),
        }


class ResultExport(TypedDict):
    """One result as run exports write it: a flat row, each score's value under its name."""

    id: str
    item_id: str | None
    repetition: int
    status: str
    input: Any
    expected_output: Any
    output: Any
    error: str | None
    latency_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    attempts: int
    passed: bool | None
    scores: dict[str, float | str | None]


class Selection(Input):
    """Which items of the pinned dataset version an experiment runs (all of them by default).

    Filters apply in this order: ``ids``, ``tags`` (an item needs one of them), ``first``
    (the first N in dataset order), ``sample`` (N drawn at random with ``seed``).
    """

    ids: list[str] | None = None
    tags: list[str] | None = None
    first: int | None = Field(default=None, ge=1)
    sample: int | None = Field(default=None, ge=1)
    seed: int | None = None

    def is_empty(self) -> bool:
        return not any(v is not None for v in self.model_dump().values())


class ExperimentCreate(Input):
    """What a caller sends to plan an experiment over a dataset."""

    name: str = Field(min_length=1, max_length=300)
    dataset: str = Field(min_length=1, description="Dataset id or name.")
    dataset_version: int | None = Field(default=None, ge=0, description="Default: current.")
    description: str | None = None
    config: JsonObject = Field(default_factory=dict)
    scorers: list[JsonObject] = Field(default_factory=list)
    evaluator_ids: list[str] = Field(default_factory=list)
    selection: Selection | None = None
    concurrency: int = Field(default=10, ge=1, le=10_000)
    trials: int = Field(default=1, ge=1, le=1_000)
    run_tag: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: JsonObject = Field(default_factory=dict)


class ScorerStats(Record):
    """Aggregate of one scorer's scores over an experiment."""

    name: str
    count: int
    scored: int = Field(description="Scores with a value (a scorer error leaves it empty).")
    passed: int
    failed: int
    pass_rate: float | None = Field(description="passed / (passed + failed).")
    mean: float | None = Field(description="Mean numeric value (booleans count as 0/1).")


class ExperimentSummary(Record):
    """Counts, latency, cost, tokens and pass rates of one experiment, computed in SQL."""

    total: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    passed: int
    judged: int = Field(
        default=0,
        description="Results with a verdict (passed or failed): the pass rate's denominator.",
    )
    pass_rate: float | None = Field(description="Passed over completed results with a verdict.")
    avg_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    total_cost: float = Field(description="What the target calls cost (USD).")
    avg_cost: float | None
    judge_cost: float = Field(
        default=0.0, description="What LLM-judge calls cost (USD), apart from the target's."
    )
    judge_latency_ms: float = Field(
        default=0.0, description="Time spent in LLM-judge calls over the run (ms)."
    )
    tokens_in: int
    tokens_out: int
    duration_s: float | None = Field(
        description="Seconds the run was active: the sum of its running periods, so the gap "
        "between an interruption and its resume is left out (None if it never started)."
    )
    scores: list[ScorerStats]
    scorer_errors: int = Field(
        default=0, description="Scores a scorer could not produce (it raised or could not score)."
    )
    errors: int = Field(
        default=0,
        description="Errors during execution or scoring: failed results plus scorer errors.",
    )
