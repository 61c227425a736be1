"""Runs with chosen latencies, costs and scores, written through the store's bulk recording
path (plan, record rows, finish), for the dashboard's table and chart tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from assay.domain import DatasetCreate, ExperimentCreate, ExperimentStatus, ItemCreate
from assay.store import Store
from assay.store.recording import Rows

NOW = datetime(2026, 11, 22, tzinfo=UTC)


@dataclass
class Row:
    output: Any = "ok"
    latency: float | None = 100.0
    cost: float | None = 0.001
    scores: dict[str, float | None] = field(default_factory=dict)
    passed: bool | None = True
    error: str | None = None


def dataset(store: Store, name: str, inputs: list[Any]) -> None:
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(
        name, [ItemCreate(input=x, expected_output=f"expected {i}") for i, x in enumerate(inputs)]
    )


def recorded_run(
    store: Store,
    dataset_name: str,
    name: str,
    rows: list[Row],
    *,
    status: ExperimentStatus = ExperimentStatus.completed,
) -> str:
    """A run of the dataset's items (in order) with these outcomes; returns its id."""
    planned = store.experiments.prepare(
        ExperimentCreate(name=name, dataset=dataset_name, scorers=[{"name": "exact_match"}])
    )
    planned.commit()
    results, scores = [], []
    for w, r in zip(planned.work, rows, strict=True):
        state = "failed" if r.error else "completed"
        results.append(
            (state, None if r.error else r.output, r.error, r.latency, 10, 5, r.cost, 1,
             None if r.error else r.passed, NOW, NOW, w.result_id, None)
        )  # fmt: skip
        for score, value in r.scores.items():
            scores.append(
                (w.result_id, score, "numeric", value, None, None, f"because {value}",
                 "evaluator", None, None, None, None, None, None, {})
            )  # fmt: skip
    store.experiments.record_rows(planned.experiment.id, Rows(results, scores))
    store.experiments.finish(planned.experiment.id, status, None)
    return planned.experiment.id
