"""What the comparison page's charts draw beyond the statistics: per-item score pairs (the
baseline against each run) and latency and cost spread over shared bins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assay.analysis import RunFrame, load_run
from assay.analysis.frame import align
from assay.analysis.service import SharedFrames
from assay.store import Store

#: Points a scatter draws at most; larger runs are sampled evenly (the same items each time).
MAX_POINTS = 1000
BINS = 20


@dataclass(frozen=True)
class Pairs:
    """One numeric score of the items present in both runs: baseline (x) and run (y)."""

    score: str
    run_id: str
    xs: list[float]
    ys: list[float]
    paired: int  # items with a value in both runs, before sampling


@dataclass(frozen=True)
class Spread:
    """Counts per bin of one measure (latency in ms or cost in USD) for each run."""

    measure: str
    edges: list[float]
    counts: dict[str, list[int]]


@dataclass(frozen=True)
class ChartInputs:
    pairs: list[Pairs]
    spreads: list[Spread]


def _sample(n: int, limit: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.linspace(0, n - 1, limit).round().astype(np.intp)


def _pairs(base: RunFrame, run: RunFrame, limit: int) -> list[Pairs]:
    out: list[Pairs] = []
    bi, ri = align(base, run)
    for name in sorted(set(base.scores) & set(run.scores)):
        a, b = base.scores[name], run.scores[name]
        if a.is_pass_fail or b.is_pass_fail:
            continue  # a pass/fail score puts every point on four corners
        x, y = a.value[bi], b.value[ri]
        both = ~np.isnan(x) & ~np.isnan(y)
        x, y = x[both], y[both]
        pick = _sample(len(x), limit)
        out.append(
            Pairs(name, run.run_id, x[pick].tolist(), y[pick].tolist(), paired=int(both.sum()))
        )
    return out


def _spread(measure: str, frames: Sequence[RunFrame]) -> Spread:
    columns = {
        f.run_id: (f.latency_ms if measure == "latency_ms" else f.cost)[f.finished] for f in frames
    }
    values = {k: v[~np.isnan(v)] for k, v in columns.items()}
    known = [v for v in values.values() if len(v)]
    if not known:
        return Spread(measure, [], {k: [] for k in values})
    low = float(min(v.min() for v in known))
    high = float(max(np.quantile(v, 0.99) for v in known))  # a long tail would squash the rest
    if high <= low:
        high = low + (abs(low) or 1.0)
    edges = np.linspace(low, high, BINS + 1)
    counts = {
        k: np.histogram(np.clip(v, low, high), bins=edges)[0].astype(int).tolist()
        for k, v in values.items()
    }
    return Spread(measure, edges.tolist(), counts)


def chart_inputs(
    store: Store,
    run_ids: Sequence[str],
    *,
    limit: int = MAX_POINTS,
    shared: SharedFrames | None = None,
) -> ChartInputs:
    """Score pairs of the baseline (the first run) with each other run, and the latency and
    cost spread of every run; values beyond the 99th percentile count in the last bin.
    ``shared`` holds frames already read for the same page."""
    frames = [load_run(store, ref, outputs=False, shared=shared) for ref in run_ids]
    base = frames[0]
    pairs = [p for run in frames[1:] for p in _pairs(base, run, limit)]
    return ChartInputs(pairs, [_spread("latency_ms", frames), _spread("cost", frames)])
