"""Side-by-side comparison of experiments (aligned by dataset item) and the gate verdict.

The seed response shape (``experiments`` map, ``comparisons`` per dataset item) is enriched
with ``statistics``: the paired tests, confidence intervals and warnings of
:func:`assay.analysis.compare_experiments`, the first experiment being the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.analysis import RegressionPolicy, compare_experiments, gate_experiment
from assay.analysis.gate import GateVerdict
from assay.domain import Experiment, ResultDetail
from assay.errors import InvalidInput, NotFound
from assay.store import Store

MAX_EXPERIMENTS = 10


def _experiments(store: Store, refs: Sequence[str]) -> list[Experiment]:
    if not 2 <= len(refs) <= MAX_EXPERIMENTS:
        raise InvalidInput(
            f"experiment_ids: give between 2 and {MAX_EXPERIMENTS} experiments",
            field="experiment_ids",
        )
    found = []
    for i, ref in enumerate(refs):
        try:
            found.append(store.experiments.get(ref))
        except NotFound as exc:
            raise NotFound(exc.message, field=f"experiment_ids[{i}]") from None
    ids = [e.id for e in found]
    if len(set(ids)) != len(ids):
        raise InvalidInput("experiment_ids: an experiment is listed twice", field="experiment_ids")
    return found


def _cell(r: ResultDetail) -> dict[str, Any]:
    return {
        "run_id": r.id,
        "status": r.status.value,
        "output": r.output,
        "error": r.error or None,
        "latency_ms": r.latency_ms,
        "cost": r.cost,
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "passed": r.passed,
        "scores": {
            s.name: s.numeric_value if s.numeric_value is not None else s.string_value
            for s in r.scores
        },
    }


def compare(
    store: Store, refs: Sequence[str], *, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    """The seed comparison (a page of items) with the statistics over every item."""
    found = _experiments(store, refs)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for experiment in found:
        for r in store.experiments.iter_results(experiment.id):
            key = (r.dataset_item_id or f"result:{r.id}", r.repetition)
            row = rows.get(key)
            if row is None:
                row = rows[key] = {
                    "dataset_item": {
                        "id": r.dataset_item_id,
                        "input": r.item_input,
                        "expected_output": r.item_expected_output,
                    },
                    "repetition": r.repetition,
                    "results": {},
                }
            row["results"][experiment.id] = _cell(r)
    statistics = compare_experiments(store, [e.id for e in found], items=False, diffs=False)
    ordered = list(rows.values())
    return {
        "experiments": {
            e.id: {
                "name": e.name,
                "config": e.config,
                "status": e.status.value,
                "dataset_id": e.dataset_id,
                "dataset_version": e.dataset_version,
            }
            for e in found
        },
        "comparisons": ordered[offset : offset + limit],
        "total_items": len(ordered),
        "offset": offset,
        "statistics": statistics.model_dump(mode="json"),
    }


def gate(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    policy: RegressionPolicy | None = None,
) -> GateVerdict:
    """The verdict ``assay gate`` gives: the given policy, else the dataset's stored one."""
    return gate_experiment(store, ref, baseline=baseline, baseline_tag=baseline_tag, policy=policy)
