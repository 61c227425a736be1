"""Comparisons and gates over stored experiments: what the API, CLI and test plugin call.

:func:`load_run` reads an experiment's results and scores as columns straight from SQL into
a :class:`RunFrame`; :func:`compare_experiments` and :func:`gate_experiment` resolve runs,
baselines and the dataset's stored regression policy, then hand over to the pure analysis.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from assay.analysis import snapshot
from assay.analysis.compare import NumericTest, compare_runs
from assay.analysis.frame import RunFrame
from assay.analysis.frame_read import read_frame
from assay.analysis.gate import evaluate_gate
from assay.analysis.gate_items import GateOutcomes
from assay.analysis.item_keys import IdArray, decode, encode, find
from assay.analysis.items import paused_gc
from assay.analysis.judge_noise import with_judge_noise
from assay.domain import (
    GATE_LIMIT,
    Comparison,
    Direction,
    Experiment,
    ExperimentStatus,
    GateVerdict,
    ItemFilter,
    OutcomeFilter,
    PAdjust,
    RegressionPolicy,
    Result,
)
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import Store, run_frames
from assay.store.run_aggregates import store_aggregates
from assay.store.run_columns import (
    item_contents,
    item_tags,
    judge_spreads,
    latest_tagged_run,
    outputs_of,
)

log = logging.getLogger("assay.analysis")


@dataclass
class SharedFrames:
    """Run frames read once and shared by what one page shows of the same runs (its
    comparison, gates and charts). Frames are read-only; keep one only as long as a page."""

    frames: dict[tuple[str, bool], RunFrame] = field(default_factory=dict)


def frame_of(
    store: Store,
    experiment: Experiment,
    *,
    outputs: bool = True,
    shared: SharedFrames | None = None,
    ids_like: IdArray | None = None,
) -> RunFrame:
    """The :class:`RunFrame` of an experiment already fetched (from ``shared`` when it holds it).

    Without ``outputs``, the frame reads outputs on demand (``fetch_outputs``), and a
    finished run's frame is read from its stored snapshot when that is current, and stored
    after it is built otherwise (see :mod:`assay.store.run_frames`). A snapshot whose item
    ids equal ``ids_like`` (those of a frame already read) shares that array.
    """
    if shared is None:
        return _frame_of(store, experiment, outputs=outputs, ids_like=ids_like)
    key = (experiment.id, outputs)
    if key not in shared.frames:
        shared.frames[key] = _frame_of(store, experiment, outputs=outputs, ids_like=ids_like)
    return shared.frames[key]


def _frame_of(
    store: Store, experiment: Experiment, *, outputs: bool, ids_like: IdArray | None = None
) -> RunFrame:
    with paused_gc():
        if outputs or not experiment.status.finished:
            return _frame(store, experiment, outputs=outputs)
        fetch = partial(outputs_of, store.db, experiment.id)
        with run_frames.opened(store.db, experiment.id) as data:
            stored = (
                None if data is None else snapshot.load(data, experiment, fetch, ids_like=ids_like)
            )
        if stored is not None:
            return stored
        with store.db.read() as conn:  # the revision is read before the data it stamps
            revision = run_frames.revision(conn, experiment.id)
        # judge noise is stored with the snapshot: reading it means scanning every score's metadata
        spreads = judge_spreads(store.db, experiment.id)
        frame = _frame(store, experiment, outputs=False, spreads=spreads)
        with tempfile.TemporaryFile() as out:  # a large run's archive is not held twice
            snapshot.dump(frame, out)
            run_frames.save_file(store.db, experiment.id, revision, out, out.tell())
        return frame


def store_frame(store: Store, experiment_id: str) -> None:
    """Store a finished run's snapshot now, so that its first comparison or gate reads it
    rather than every result and score row, and its page's aggregates (the engine calls this
    when a run ends or is re-scored). A snapshot is only a cache: a failure here is logged,
    never raised."""
    try:
        experiment = store.experiments.get(experiment_id)
        if not experiment.status.finished:
            return
        frame_of(store, experiment, outputs=False)
    except Exception:
        log.warning("could not store the run frame of %s", experiment_id, exc_info=True)
    store_aggregates(store, experiment_id)


def _frame(
    store: Store,
    experiment: Experiment,
    *,
    outputs: bool,
    spreads: Mapping[str, tuple[float, int, int]] | None = None,
) -> RunFrame:
    return read_frame(store, experiment, outputs=outputs, spreads=spreads)


def align_by_content(store: Store, base: RunFrame, run: RunFrame) -> RunFrame:
    """``run`` with its item ids mapped onto the baseline's where the two ran different
    datasets and an item has the same input and expected output in both (content unique in
    each run); the frame counts the matches in ``content_aligned``. Same dataset: unchanged."""
    if run.dataset_id == base.dataset_id or base.dataset_id is None or run.dataset_id is None:
        return run
    base_keys, run_keys = item_contents(store.db, base.run_id), item_contents(store.db, run.run_id)
    base_count, run_count = Counter(base_keys.values()), Counter(run_keys.values())
    base_item = {key: item for item, key in base_keys.items() if base_count[key] == 1}
    mapping = {
        item: base_item[key]
        for item, key in run_keys.items()
        if run_count[key] == 1 and key in base_item and item != base_item[key]
    }
    if not mapping:
        return run
    back = {new: old for old, new in mapping.items()}
    fetch = run.fetch_outputs

    def fetch_mapped(keys: Sequence[tuple[str, int]]) -> Mapping[tuple[str, int], Any]:
        assert fetch is not None
        found = fetch([(back.get(item, item), rep) for item, rep in keys])
        return {(mapping.get(item, item), rep): value for (item, rep), value in found.items()}

    at = find(encode(list(mapping)), run.item_ids)  # the mapped id's position, or -1
    to = encode(list(mapping.values()))
    ids = run.item_ids.astype(f"S{max(run.item_ids.itemsize, to.itemsize)}")
    hit = at >= 0
    ids[hit] = to[at[hit]]
    return dataclasses.replace(
        run,
        item_ids=ids,
        content_aligned=len(mapping),
        fetch_outputs=None if fetch is None else fetch_mapped,
    )


def load_run(
    store: Store,
    experiment_ref: str,
    *,
    outputs: bool = True,
    shared: SharedFrames | None = None,
) -> RunFrame:
    """An experiment (id or name; the newest of that name) as columns, read in two queries.

    ``outputs=False`` skips the output column (statistics and gates do not need it).
    """
    experiment = store.experiments.get(experiment_ref)
    return frame_of(store, experiment, outputs=outputs, shared=shared)


# ---------------------------------------------------------------- policies
def dataset_policy(store: Store, dataset: str) -> RegressionPolicy | None:
    """The regression policy stored for a dataset, or None."""
    raw = store.policies.get(dataset)
    if raw is None:
        return None
    return RegressionPolicy.parse(raw, source=f"stored policy of dataset {dataset!r}")


def set_dataset_policy(
    store: Store, dataset: str, policy: RegressionPolicy | Mapping[str, Any] | str
) -> RegressionPolicy:
    """Validate and store a dataset's policy (a policy, a mapping, or YAML/JSON text)."""
    if not isinstance(policy, RegressionPolicy):
        policy = RegressionPolicy.parse(policy)
    store.policies.set(dataset, policy.model_dump(mode="json", exclude_defaults=True))
    return policy


def clear_dataset_policy(store: Store, dataset: str) -> bool:
    return store.policies.clear(dataset)


# ---------------------------------------------------------------- compare
def compare_experiments(
    store: Store,
    refs: Sequence[str],
    *,
    directions: Mapping[str, Direction] | None = None,
    alpha: float = 0.05,
    resamples: int = 2000,
    permutations: int = 10_000,
    numeric_test: NumericTest = "auto",
    seed: int = 0,
    items: bool = True,
    diffs: bool = True,
    only: ItemFilter | None = None,
    tag: str | None = None,
    offset: int = 0,
    limit: int | None = None,
    margin: float | None = None,
    margins: Mapping[str, float] | None = None,
    p_adjust: PAdjust = "holm",
    shared: SharedFrames | None = None,
) -> Comparison:
    """Compare stored experiments; the first is the baseline.

    Scorer directions default to the baseline dataset's stored policy. Item rows (and their
    dataset tags) are read only when ``items`` is true; see
    :func:`~assay.analysis.compare.compare_runs` for the other options. ``shared`` holds
    frames already read (and keeps those this reads) for what else a page shows.
    """
    if len(refs) < 2:
        raise InvalidInput("a comparison needs at least two runs", field="runs")
    found = [store.experiments.get(ref) for ref in refs]
    for i, e in enumerate(found):
        if e.status in (ExperimentStatus.pending, ExperimentStatus.running):
            raise Conflict(
                f"run {e.name!r} ({e.id}) is still {e.status.value}; compare finished runs",
                field="runs",
                row=i,
            )
    # A page of item rows reads its own rows' outputs; all rows, or the "changed" filter
    # (which compares every output), read every output at once.
    every_output = items and (limit is None or only == "changed")
    runs = [frame_of(store, found[0], outputs=every_output, shared=shared)]
    runs += [
        frame_of(store, e, outputs=every_output, shared=shared, ids_like=runs[0].item_ids)
        for e in found[1:]
    ]
    spreads = [
        judge_spreads(store.db, e.id) if r.judge_spreads is None else r.judge_spreads
        for e, r in zip(found, runs, strict=True)
    ]
    runs = runs[:1] + [align_by_content(store, runs[0], r) for r in runs[1:]]
    base = found[0]
    if directions is None:
        policy = dataset_policy(store, base.dataset_id) if base.dataset_id else None
        directions = {k: r.direction for k, r in policy.scorers.items()} if policy else {}

    def tags_of(ids: set[str]) -> dict[str, list[str]]:
        if base.dataset_id is None or not ids:
            return {}
        return item_tags(store.db, base.dataset_id, base.dataset_version, ids)

    # The tag filter needs every item's tags; otherwise only the page's rows are looked up.
    every_tag = set().union(*(decode(r.distinct_ids()) for r in runs)) if tag is not None else set()
    comparison = compare_runs(
        runs,
        directions=directions,
        item_tags=tags_of(every_tag),
        alpha=alpha,
        resamples=resamples,
        permutations=permutations,
        numeric_test=numeric_test,
        seed=seed,
        items=items,
        diffs=diffs,
        only=only,
        tag=tag,
        offset=offset,
        limit=limit,
        margin=margin,
        margins=margins,
        p_adjust=p_adjust,
    )
    comparison = with_judge_noise(comparison, runs, spreads)
    if tag is not None or not comparison.items:
        return comparison
    page_tags = tags_of({row.item_id for row in comparison.items})
    rows = [
        row.model_copy(update={"tags": list(page_tags.get(row.item_id, ()))})
        for row in comparison.items
    ]
    return comparison.model_copy(update={"items": rows})


# ---------------------------------------------------------------- gate
def item_inputs(
    store: Store, run_ids: Sequence[str], item_ids: Collection[str]
) -> dict[str, Result]:
    """What each item of a comparison page was run with (input and expected output), read
    from the runs' results: one query per run, only for items an earlier run does not have."""
    found: dict[str, Result] = {}
    for run_id in run_ids:
        missing = sorted(set(item_ids) - found.keys())
        if not missing:
            break
        for result in store.experiments.results_for_items(run_id, missing):
            found.setdefault(result.item_id or "", result)
    return found


def _finished(experiment: Experiment, role: str) -> Experiment:
    if experiment.status is not ExperimentStatus.completed:
        raise Conflict(
            f"{role} run {experiment.name!r} ({experiment.id}) is {experiment.status.value}; "
            "a gate needs a completed run",
            field=role,
        )
    return experiment


def resolve_baseline(
    store: Store,
    candidate: Experiment,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
) -> Experiment | None:
    """The pinned ``baseline`` run, or the newest completed run on the candidate's dataset
    tagged ``baseline_tag`` (never the candidate itself), or None when neither is given."""
    if baseline is not None and baseline_tag is not None:
        raise InvalidInput("give a baseline run or a baseline tag, not both", field="baseline")
    if baseline is not None:
        found = _finished(store.experiments.get(baseline), "baseline")
        if found.id == candidate.id:
            raise InvalidInput("the baseline is the run being gated", field="baseline")
        return found
    if baseline_tag is None:
        return None
    found_id = latest_tagged_run(
        store.db,
        store.project_id,
        dataset_id=candidate.dataset_id,
        run_tag=baseline_tag,
        exclude=candidate.id,
    )
    if found_id is None:
        raise NotFound(
            f"no completed run tagged {baseline_tag!r} on the dataset of run "
            f"{candidate.name!r} to use as the baseline",
            field="baseline_tag",
        )
    return store.experiments.get(found_id)


@dataclass(frozen=True)
class GateRuns:
    """What a gate compares: the candidate, its baseline (None: none) and the policy."""

    candidate: Experiment
    baseline: Experiment | None
    policy: RegressionPolicy


def gate_runs(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    policy: RegressionPolicy | None = None,
) -> GateRuns:
    """The completed run ``ref``, its policy (given, else the dataset's stored one, else the
    defaults) and its baseline: ``baseline`` (a run id or name), else the newest completed run
    tagged ``baseline_tag`` on the same dataset, else whatever the policy names."""
    candidate = _finished(store.experiments.get(ref), "candidate")
    if policy is None and candidate.dataset_id is not None:
        policy = dataset_policy(store, candidate.dataset_id)
    policy = policy or RegressionPolicy()
    if baseline is None and baseline_tag is None:
        baseline, baseline_tag = policy.baseline, policy.baseline_tag
        if baseline is not None:
            baseline_tag = None
    base = resolve_baseline(store, candidate, baseline=baseline, baseline_tag=baseline_tag)
    return GateRuns(candidate, base, policy)


def gate_frames(
    store: Store, runs: GateRuns, *, shared: SharedFrames | None = None
) -> tuple[RunFrame, RunFrame | None]:
    """The candidate's and the baseline's frames, the candidate's item ids mapped onto the
    baseline's by content when the two ran different datasets."""
    if runs.baseline is None:
        return frame_of(store, runs.candidate, outputs=False, shared=shared), None
    base_frame = frame_of(store, runs.baseline, outputs=False, shared=shared)
    frame = frame_of(
        store, runs.candidate, outputs=False, shared=shared, ids_like=base_frame.item_ids
    )
    return align_by_content(store, base_frame, frame), base_frame


def gate_experiment(
    store: Store,
    ref: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    policy: RegressionPolicy | None = None,
    seed: int = 0,
    outcomes: bool = True,
    limit: int | None = GATE_LIMIT,
    only: OutcomeFilter = "all",
    shared: SharedFrames | None = None,
) -> GateVerdict:
    """Gate a completed run: the policy (given, else the dataset's stored one, else the
    defaults) checked on the run and against its baseline.

    The baseline is ``baseline`` (a run id or name), else the newest completed run tagged
    ``baseline_tag`` on the same dataset, else whatever the policy names. The verdict lists the
    first ``limit`` outcomes (``only="failing"``: of those that did not pass) and regressions
    (None: all) and yields the rest on demand (see :func:`~assay.analysis.gate.evaluate_gate`);
    ``outcomes=False`` lists none. ``shared`` holds frames already read, e.g. by the
    comparison of the same runs.
    """
    runs = gate_runs(store, ref, baseline=baseline, baseline_tag=baseline_tag, policy=policy)
    frame, base_frame = gate_frames(store, runs, shared=shared)
    policy = runs.policy
    agreements = None
    wanted = policy.min_judge_agreement is not None or any(
        rule.min_judge_agreement is not None for rule in policy.scorers.values()
    )
    candidate = runs.candidate
    if wanted and candidate.dataset_id is not None:
        from assay.analysis.agreement import scorer_agreement

        dataset_id = candidate.dataset_id
        agreements = {name: scorer_agreement(store, dataset_id, name) for name in policy.scorers}
    return evaluate_gate(
        frame,
        base_frame,
        policy,
        seed=seed,
        agreements=agreements,
        outcomes=outcomes,
        limit=limit,
        only=only,
    )


def gate_outcomes(store: Store, runs: GateRuns) -> GateOutcomes:
    """The per-item outcomes of a gate without its statistics: what a page of them needs."""
    frame, base_frame = gate_frames(store, runs)
    return GateOutcomes(frame, base_frame)


__all__ = [
    "GateRuns",
    "SharedFrames",
    "align_by_content",
    "clear_dataset_policy",
    "compare_experiments",
    "dataset_policy",
    "frame_of",
    "gate_experiment",
    "gate_frames",
    "gate_outcomes",
    "gate_runs",
    "load_run",
    "resolve_baseline",
    "set_dataset_policy",
    "store_frame",
]
