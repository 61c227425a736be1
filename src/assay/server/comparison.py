"""Side-by-side comparison of experiments (aligned by dataset item) and the gate verdict.

The seed response shape (``experiments`` map, ``comparisons`` per dataset item) is enriched
with ``statistics``: the paired tests, confidence intervals and warnings of
:func:`assay.analysis.compare_runs`, the first experiment being the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.analysis import RegressionPolicy, RunFrame, compare_runs, evaluate_gate
from assay.analysis.gate import GateVerdict
from assay.domain import Experiment, ExperimentStatus, Result, ResultDetail
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import Store

MAX_EXPERIMENTS = 10


def _as_result(experiment_id: str, r: ResultDetail) -> Result:
    return Result.model_construct(
        id=r.id,
        experiment_id=experiment_id,
        item_id=r.dataset_item_id,
        repetition=r.repetition,
        status=r.status,
        input=r.item_input,
        expected_output=r.item_expected_output,
        output=r.output,
        error=r.error or None,
        latency_ms=r.latency_ms,
        tokens_in=r.tokens_in,
        tokens_out=r.tokens_out,
        cost=r.cost,
        attempts=r.attempts,
        passed=r.passed,
        trace_id=None,
        observation_id=None,
        started_at=r.started_at,
        finished_at=r.finished_at,
        scores=r.scores,
    )


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
    frames: list[RunFrame] = []
    for experiment in found:
        details = list(store.experiments.iter_results(experiment.id))
        frames.append(
            RunFrame.from_experiment(experiment, (_as_result(experiment.id, r) for r in details))
        )
        for r in details:
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
    statistics = compare_runs(frames, items=False, diffs=False)
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


def _baseline_by_tag(store: Store, candidate: Experiment, tag: str) -> Experiment:
    cursor: str | None = None
    while True:
        page = store.experiments.list(
            dataset=candidate.dataset_id,
            status=ExperimentStatus.completed,
            limit=200,
            cursor=cursor,
        )
        for e in page.items:
            if e.id != candidate.id and (e.run_tag == tag or tag in e.tags):
                return e
        cursor = page.next_cursor
        if cursor is None:
            raise NotFound(
                f"no completed run tagged {tag!r} on this dataset to compare with",
                field="baseline_tag",
            )


def gate(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    policy: RegressionPolicy | None = None,
) -> GateVerdict:
    """The gate verdict of a finished run, against a baseline run when one is named."""
    candidate = store.experiments.get(ref)
    if not candidate.status.finished:
        raise Conflict(
            f"experiment {candidate.id} is {candidate.status.value}: gate it once it finishes",
            field="experiment",
        )
    base: Experiment | None = None
    if baseline is not None:
        try:
            base = store.experiments.get(baseline)
        except NotFound as exc:
            raise NotFound(exc.message, field="baseline") from None
    elif baseline_tag is not None:
        base = _baseline_by_tag(store, candidate, baseline_tag)

    def frame(e: Experiment) -> RunFrame:
        rows = (_as_result(e.id, r) for r in store.experiments.iter_results(e.id))
        return RunFrame.from_experiment(e, rows)

    return evaluate_gate(frame(candidate), frame(base) if base else None, policy)
