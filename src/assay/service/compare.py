"""Comparing runs and gating them: what ``assay compare``/``assay gate``, the comparison API
and the dashboard's comparison page share.

:func:`compare_runs` gives the statistics and a page of item rows (:func:`inputs_of` what
those items were run with); :func:`compare` gives the API's side-by-side shape (``experiments``
map, ``comparisons`` per dataset item) enriched with ``statistics``, the first experiment being
the baseline; :func:`gate` gives the verdict of a run against its baseline and policy, and
:func:`gate_items` / :func:`gate_regressions` page its outcomes and regressions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from assay.analysis import compare_experiments, gate_experiment, item_inputs
from assay.analysis.gate_items import GateOutcomes, check_only
from assay.analysis.service import SharedFrames, gate_outcomes, gate_runs
from assay.domain import (
    GATE_LIMIT,
    Comparison,
    ComparisonRow,
    DatasetItemBrief,
    Experiment,
    ExperimentBrief,
    ExperimentComparison,
    GateVerdict,
    ItemFilter,
    ItemOutcome,
    ItemRegression,
    OutcomeFilter,
    PAdjust,
    Page,
    RegressionPolicy,
    Result,
)
from assay.errors import AssayError, Conflict, InvalidInput, NotFound
from assay.store import Store
from assay.store.sql import decode_cursor, encode_cursor

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
    limit: int | None = GATE_LIMIT,
    only: OutcomeFilter = "all",
    shared: SharedFrames | None = None,
) -> GateVerdict:
    """The verdict ``assay gate`` gives: the given policy, else the dataset's stored one.

    A run (or baseline) without a single score is refused: a pass rate of 0 % against 0 %
    would otherwise pass the gate without anything having been judged. The verdict lists the
    first ``limit`` outcomes (``only="failing"``: of those that did not pass) and regressions
    (None: all); when there are more, its ``items_next_cursor`` and
    ``regressions_next_cursor`` page the rest (:func:`gate_items` with the same ``only``,
    :func:`gate_regressions`). ``outcomes=False`` lists none; ``shared`` holds frames already
    read.
    """
    verdict = gate_experiment(
        store,
        ref,
        baseline=baseline,
        baseline_tag=baseline_tag,
        policy=policy,
        outcomes=outcomes,
        limit=limit,
        only=only,
        shared=shared,
    )
    _refuse_unscored(store, verdict.run_id, verdict.baseline_id)
    source = verdict.source
    if not outcomes or not isinstance(source, GateOutcomes):
        return verdict
    cursors: dict[str, str | None] = {}
    part = _ITEM_PARTS[only]
    if len(verdict.items) < _total(part, source):
        cursors["items_next_cursor"] = _cursor(part, source, len(verdict.items))
    if len(verdict.regressions) < verdict.regressions_total:
        at = len(verdict.regressions)
        cursors["regressions_next_cursor"] = _cursor("regressions", source, at)
    if not cursors:
        return verdict
    return verdict.model_copy(update=cursors).with_outcomes(source)


def _refuse_unscored(store: Store, run_id: str, baseline_id: str | None) -> None:
    missing = unscored(store, [run_id, *([baseline_id] if baseline_id else [])])
    if missing:
        raise InvalidInput(no_scores_message(missing[0]), field="run")


#: The most outcomes or regressions one page of :func:`gate_items` / :func:`gate_regressions`
#: returns.
GATE_PAGE_MAX = 10_000
#: A listing a cursor pages: every outcome, the failing ones, or the regressed items.
GatePart = Literal["items", "failing", "regressions"]
_ITEM_PARTS: dict[OutcomeFilter, GatePart] = {"all": "items", "failing": "failing"}
#: Each listing as a message names it, and where its cursors go.
_PARTS: dict[GatePart, tuple[str, str]] = {
    "items": ("items", "/gate/items/"),
    "failing": ("failing items", "/gate/items/?only=failing"),
    "regressions": ("regressions", "/gate/regressions/"),
}


def _total(part: GatePart, source: GateOutcomes) -> int:
    """How many entries the listing ``part`` has."""
    if part == "items":
        return source.total
    return source.failing_total if part == "failing" else source.regressions_total


def _cursor(part: GatePart, source: GateOutcomes, start: int) -> str:
    """Where the next page of ``part`` starts, for the runs as they are now."""
    return encode_cursor(part, source.baseline_id, source.digest, start)


def _decode(cursor: str, part: GatePart) -> tuple[str | None, str, int]:
    """The baseline, the runs' digest and the position a cursor of ``part`` was issued for."""
    values = decode_cursor(cursor, 4)
    kind, baseline_id, digest, start = values
    valid = (
        kind in _PARTS
        and (baseline_id is None or isinstance(baseline_id, str))
        and isinstance(digest, str)
        and isinstance(start, int)
        and not isinstance(start, bool)
        and start >= 0
    )
    if not valid:
        raise InvalidInput("malformed pagination cursor", field="cursor")
    if kind != part:
        (issued, url), (asked, _) = _PARTS[kind], _PARTS[part]
        raise InvalidInput(
            f"this cursor pages the gate's {issued}, not its {asked}: pass it to {url} "
            f"(or start {asked} without a cursor)",
            field="cursor",
        )
    return baseline_id, digest, start


def _page_source(
    store: Store,
    ref: str,
    part: GatePart,
    *,
    baseline: str | None,
    baseline_tag: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[GateOutcomes, int]:
    """The outcomes of the gate a page reads, and where the page starts."""
    if not 1 <= limit <= GATE_PAGE_MAX:
        raise InvalidInput(
            f"limit must be between 1 and {GATE_PAGE_MAX:,}, not {limit}", field="limit"
        )
    start, digest = 0, None
    if cursor is None:
        runs = gate_runs(store, ref, baseline=baseline, baseline_tag=baseline_tag)
    else:
        issued_for, digest, start = _decode(cursor, part)
        if baseline is None and baseline_tag is None:
            # The policy plays no part in the outcomes; the default one names no baseline.
            runs = gate_runs(store, ref, baseline=issued_for, policy=RegressionPolicy())
        else:
            runs = gate_runs(store, ref, baseline=baseline, baseline_tag=baseline_tag)
            found = runs.baseline.id if runs.baseline is not None else None
            if found != issued_for:
                raise InvalidInput(
                    f"this cursor was issued against baseline {issued_for or 'none'}, not "
                    f"{found or 'none'}: page with the same baseline",
                    field="cursor",
                )
    _refuse_unscored(store, runs.candidate.id, runs.baseline.id if runs.baseline else None)
    source = gate_outcomes(store, runs)
    if digest is not None and digest != source.digest:
        raise Conflict(
            "the runs' results or scores changed since this cursor was issued; page again "
            "from the start (without a cursor)",
            field="cursor",
        )
    return source, start


def _next(part: GatePart, source: GateOutcomes, stop: int, total: int) -> str | None:
    return None if stop >= total else _cursor(part, source, stop)


def gate_items(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    cursor: str | None = None,
    limit: int = GATE_LIMIT,
    only: OutcomeFilter = "all",
) -> Page[ItemOutcome]:
    """One page of a gate's outcomes (one per item and repetition of the candidate, in run
    order; ``only="failing"``: those that did not pass), without its statistics;
    ``next_cursor`` continues it and ``total`` counts the listing. The baseline is resolved as
    :func:`gate` does (a cursor keeps the one it was issued with); a cursor pages the listing
    it was issued for only, and refuses runs changed since it was issued (``Conflict``)."""
    check_only(only)
    part = _ITEM_PARTS[only]
    source, start = _page_source(
        store,
        ref,
        part,
        baseline=baseline,
        baseline_tag=baseline_tag,
        cursor=cursor,
        limit=limit,
    )
    total = _total(part, source)
    stop = min(start + limit, total)
    page = source.failing(start, stop) if only == "failing" else source.items(start, stop)
    return Page[ItemOutcome](
        items=list(page),
        next_cursor=_next(part, source, stop, total),
        total=total,
    )


def gate_regressions(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    cursor: str | None = None,
    limit: int = GATE_LIMIT,
) -> Page[ItemRegression]:
    """One page of a gate's regressed items (once each, in run order); see :func:`gate_items`."""
    source, start = _page_source(
        store,
        ref,
        "regressions",
        baseline=baseline,
        baseline_tag=baseline_tag,
        cursor=cursor,
        limit=limit,
    )
    total = _total("regressions", source)
    stop = min(start + limit, total)
    return Page[ItemRegression](
        items=list(source.regressions(start, stop)),
        next_cursor=_next("regressions", source, stop, total),
        total=total,
    )


def unscored(store: Store, run_ids: Sequence[str]) -> list[Experiment]:
    """The runs among ``run_ids`` that have no score at all (nothing judged them yet)."""
    scored = store.scores.scored_runs(run_ids)
    return [store.experiments.get(run_id) for run_id in run_ids if run_id not in scored]


def no_scores_message(run: Experiment) -> str:
    return f"run {run.name!r} has no scores; score it first"


def regression_inputs(store: Store, verdict: GateVerdict, shown: int = 10) -> dict[str, Result]:
    """What the verdict's first ``shown`` regressed items were run with (by item id)."""
    runs = [verdict.run_id, *([verdict.baseline_id] if verdict.baseline_id else [])]
    return inputs_of(store, runs, {i.item_id for i in verdict.first_regressions(shown)})


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
