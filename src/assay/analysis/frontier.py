"""Cost against quality over a dataset's runs, and the Pareto front.

Quality is the mean over items of a metric (the pass rate by default; repetitions of an item
averaged first) with a percentile bootstrap interval over items, as in comparisons. Cost is
what a finished item cost: target cost plus judge cost, summed over its trials. A run is on
the front when every run at most as costly has a lower quality: it is the cheapest way to
reach its quality level.
"""

from __future__ import annotations

import numpy as np

from assay.analysis.frame import RunFrame
from assay.analysis.service import frame_of
from assay.analysis.stats import bootstrap_ci
from assay.domain import PASS_METRIC, Experiment, ExperimentStatus, Frontier, FrontierPoint
from assay.errors import InvalidInput
from assay.store import Store


def _quality(
    run: RunFrame, metric: str, confidence: float, seed: int
) -> tuple[float | None, float | None, float | None, int]:
    if metric == PASS_METRIC:
        values = run.pass_metric()
    elif metric in run.scores:
        values = run.scores[metric].metric()
    else:
        return None, None, None, 0
    keep = run.finished & ~np.isnan(values)
    if not keep.any():
        return None, None, None, 0
    _, inverse, counts = np.unique(run.item_ids[keep], return_inverse=True, return_counts=True)
    per_item = np.bincount(inverse, weights=values[keep]) / counts
    ci = bootstrap_ci(per_item, confidence=confidence, seed=seed)
    return ci.estimate, ci.low, ci.high, int(per_item.size)


def _cost_per_item(run: RunFrame) -> float | None:
    done = run.finished
    spend = np.nan_to_num(run.cost[done]) + np.nan_to_num(run.judge_cost[done])
    known = ~(np.isnan(run.cost[done]) & np.isnan(run.judge_cost[done]))
    items = np.unique(run.item_ids[done]).size if run.repeated else int(done.sum())
    if not known.any() or items == 0:
        return None
    return float(spend.sum()) / items


def frontier(
    store: Store,
    dataset: str,
    *,
    metric: str = PASS_METRIC,
    limit: int = 20,
    run_tag: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> Frontier:
    """The last ``limit`` finished runs of ``dataset`` by cost and quality, front marked."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200", field="limit")
    found = store.datasets.get(dataset)
    runs: list[Experiment] = []
    cursor = None
    while len(runs) < limit:
        page = store.experiments.list(dataset=found.id, limit=100, cursor=cursor)
        runs += [
            e
            for e in page.items
            if e.status.finished
            and e.status is not ExperimentStatus.cancelled
            and (run_tag is None or e.run_tag == run_tag)
        ]
        cursor = page.next_cursor
        if cursor is None:
            break
    points = []
    for e in runs[:limit]:
        frame = frame_of(store, e, outputs=False)
        quality, low, high, items = _quality(frame, metric, confidence, seed)
        points.append(
            FrontierPoint(
                run_id=e.id,
                name=e.name,
                created_at=e.created_at,
                items=items,
                quality=quality,
                ci_low=low,
                ci_high=high,
                cost_per_item=_cost_per_item(frame),
                on_front=False,
            )
        )
    return Frontier(
        dataset=found.name, metric=metric, confidence=confidence, points=mark_front(points)
    )


def mark_front(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """Points cheapest first (ties: best first), each marked on the front or dominated."""
    costed = sorted(
        (p for p in points if p.cost_per_item is not None and p.quality is not None),
        key=lambda p: (p.cost_per_item, -(p.quality or 0.0), p.created_at),
    )
    out = []
    best: FrontierPoint | None = None
    for p in costed:
        assert p.quality is not None
        if best is None or best.quality is None or p.quality > best.quality:
            out.append(p.model_copy(update={"on_front": True}))
            best = p
        else:
            out.append(p.model_copy(update={"dominated_by": best.run_id}))
    rest = [p for p in points if p.cost_per_item is None or p.quality is None]
    return out + rest
