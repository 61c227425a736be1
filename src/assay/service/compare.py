"""Comparing runs and gating them: what ``assay compare``/``assay gate``, the comparison API
and the dashboard's comparison page share.

:func:`compare_runs` gives the statistics and a page of item rows (:func:`inputs_of` what
those items were run with); :func:`compare` gives the API's side-by-side shape (``experiments``
map, ``comparisons`` per dataset item) enriched with ``statistics``, the first experiment being
the baseline; :func:`gate` gives the verdict of a run against its baseline and policy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from assay.analysis import compare_experiments, gate_experiment, item_inputs
from assay.analysis.service import SharedFrames
from assay.domain import (
    Comparison,
    ComparisonRow,
    DatasetItemBrief,
    Experiment,
    ExperimentBrief,
    ExperimentComparison,
    GateVerdict,
    ItemFilter,
    PAdjust,
    RegressionPolicy,
    Result,
)
from assay.errors import AssayError, InvalidInput, NotFound
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


def _cell(r: Result) -> dict[str, Any]:
    return {
        "run_id": r.id,
        "status": r.status.value,
        "output": r.output,
        "error": r.error,
        "latency_ms": r.latency_ms,
        "cost": r.cost,
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "passed": r.passed,
        "scores": r.score_values(),
    }


def compare_runs(
    store: Store,
    refs: Sequence[str],
    *,
    only: ItemFilter | None = None,
    tag: str | None = None,
    items: bool = True,
    offset: int = 0,
    limit: int | None = None,
    seed: int = 0,
    margin: float | None = None,
    margins: Mapping[str, float] | None = None,
    p_adjust: PAdjust = "holm",
    shared: SharedFrames | None = None,
) -> Comparison:
    """The paired statistics of runs (the first is the baseline) and a page of item rows.

    ``margin`` is in points for pass rates and in units for numeric scores (see
    :func:`assay.analysis.compare_runs`); ``shared`` keeps the runs' frames for the gates
    and charts of the same page."""
    return compare_experiments(
        store,
        refs,
        only=only,
        tag=tag,
        items=items,
        offset=offset,
        limit=limit,
        seed=seed,
        margin=margin,
        margins=margins,
        p_adjust=p_adjust,
        shared=shared,
    )


def inputs_of(store: Store, run_ids: Sequence[str], item_ids: Collection[str]) -> dict[str, Result]:
    """Results by item id, read from the first of ``run_ids`` that ran each item: what the
    items of a comparison page or a verdict's regressions were run with."""
    return item_inputs(store, run_ids, item_ids)


def compare(
    store: Store,
    refs: Sequence[str],
    *,
    offset: int = 0,
    limit: int = 100,
    margin: float | None = None,
    margins: Mapping[str, float] | None = None,
    p_adjust: PAdjust = "holm",
) -> ExperimentComparison:
    """The seed comparison (a page of items) with the statistics over every item.

    Rows are paged by the analysis (item ids and repetitions, from each run's columns); only
    the page's results are then read as records, so a page of two 100,000-item runs reads
    a few hundred rows, not all of them.
    """
    found = _experiments(store, refs)
    comparison = compare_experiments(
        store,
        [e.id for e in found],
        diffs=False,
        offset=offset,
        limit=limit,
        margin=margin,
        margins=margins,
        p_adjust=p_adjust,
    )
    keys = [(row.item_id, row.repetition) for row in comparison.items]
    wanted = sorted({item for item, _ in keys})
    cells = {
        e.id: {
            (r.item_id, r.repetition): r for r in store.experiments.results_for_items(e.id, wanted)
        }
        for e in found
    }
    rows = []
    for key in keys:
        present = {run_id: by_key[key] for run_id, by_key in cells.items() if key in by_key}
        if not present:
            continue
        first = next(iter(present.values()))
        rows.append(
            ComparisonRow(
                dataset_item=DatasetItemBrief(
                    id=key[0], input=first.input, expected_output=first.expected_output
                ),
                repetition=key[1],
                results={run_id: _cell(r) for run_id, r in present.items()},
            )
        )
    return ExperimentComparison(
        experiments={
            e.id: ExperimentBrief(
                name=e.name,
                config=e.config,
                status=e.status.value,
                dataset_id=e.dataset_id,
                dataset_version=e.dataset_version,
            )
            for e in found
        },
        comparisons=rows,
        total_items=comparison.items_total,
        offset=offset,
        statistics=comparison.model_copy(update={"items": [], "items_total": 0}),
    )


def gate(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    policy: RegressionPolicy | None = None,
    outcomes: bool = True,
    shared: SharedFrames | None = None,
) -> GateVerdict:
    """The verdict ``assay gate`` gives: the given policy, else the dataset's stored one.

    A run (or baseline) without a single score is refused: a pass rate of 0 % against 0 %
    would otherwise pass the gate without anything having been judged. ``outcomes=False``
    leaves out the per-item outcomes; ``shared`` holds frames already read.
    """
    verdict = gate_experiment(
        store,
        ref,
        baseline=baseline,
        baseline_tag=baseline_tag,
        policy=policy,
        outcomes=outcomes,
        shared=shared,
    )
    runs = [verdict.run_id, *([verdict.baseline_id] if verdict.baseline_id else [])]
    missing = unscored(store, runs)
    if missing:
        raise InvalidInput(no_scores_message(missing[0]), field="run")
    return verdict


def unscored(store: Store, run_ids: Sequence[str]) -> list[Experiment]:
    """The runs among ``run_ids`` that have no score at all (nothing judged them yet)."""
    scored = store.scores.scored_runs(run_ids)
    return [store.experiments.get(run_id) for run_id in run_ids if run_id not in scored]


def no_scores_message(run: Experiment) -> str:
    return f"run {run.name!r} has no scores; score it first"


def regression_inputs(store: Store, verdict: GateVerdict) -> dict[str, Result]:
    """What the verdict's regressed items were run with (by item id)."""
    runs = [verdict.run_id, *([verdict.baseline_id] if verdict.baseline_id else [])]
    return inputs_of(store, runs, {i.item_id for i in verdict.regressions})


def gates_against(
    store: Store,
    baseline: str,
    candidates: Sequence[str],
    *,
    shared: SharedFrames | None = None,
) -> dict[str, GateVerdict | str]:
    """Each candidate's verdict against ``baseline`` (its checks and reasons, without per-item
    outcomes), or why it has none (not finished…). With the frames a comparison of the same
    runs left in ``shared``, a gate reads no run again and reuses that comparison's contrasts
    where the policy asks for the same statistics (see :mod:`assay.analysis.contrast_memo`)."""
    gates: dict[str, GateVerdict | str] = {}
    for candidate in candidates:
        try:
            gates[candidate] = gate(
                store, candidate, baseline=baseline, outcomes=False, shared=shared
            )
        except AssayError as exc:
            gates[candidate] = exc.message
    return gates
