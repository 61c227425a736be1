"""Compare runs aligned by (item, repetition): per-item changes, per-scorer statistics, usage.

The first run is the baseline; every other run is compared with it. Statistics are paired
over the items present in both runs and cluster repetitions of an item (see
:mod:`assay.analysis.stats`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assay.analysis import contrast_memo
from assay.analysis.frame import FloatArray, RunFrame, align, item_codes, same_rows
from assay.analysis.item_keys import IdArray, decode, encode, find
from assay.analysis.items import item_rows
from assay.analysis.margins import margin_test
from assay.analysis.multitest import adjust
from assay.analysis.stats import (
    Significance,
    bootstrap_ci,
    cluster_differences,
    mcnemar_exact,
    permutation_cost,
    permutation_test,
    verdict,
    wilcoxon_test,
)
from assay.domain import (
    PASS_METRIC,
    CompareWarning,
    Comparison,
    Contrast,
    Direction,
    DistributionDelta,
    ItemFilter,
    ItemReliability,
    MetricComparison,
    MetricKind,
    PAdjust,
    RunInfo,
    UsageComparison,
    UsageDistribution,
    Verdict,
)
from assay.errors import InvalidInput
from assay.formatting import plural

NumericTest = Literal["auto", "permutation", "wilcoxon"]
#: Above this many random draws, ``auto`` uses the Wilcoxon test instead of permutations.
PERMUTATION_BUDGET = 20_000_000
IntArray = npt.NDArray[np.intp]


class _Pair:
    """Rows of the baseline and of another run that hold the same (item, repetition), and
    the item of each pair (None when every item has one row in the baseline: no clusters).

    Two runs planned from the same items pair row for row: their columns are then paired as
    they are, without a copy."""

    def __init__(self, base: RunFrame, other: RunFrame, codes: IntArray | None) -> None:
        self.same_rows = same_rows(base, other)
        if self.same_rows:
            self.size = len(base)
            self.clusters = codes
        else:
            self.a, self.b = align(base, other)
            self.size = int(self.a.size)
            self.clusters = None if codes is None else codes[self.a]

    def left(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The baseline's ``values`` of each pair."""
        return values if self.same_rows else values[self.a]

    def right(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The other run's ``values`` of each pair."""
        return values if self.same_rows else values[self.b]


def _where_finished(run: RunFrame, pair: _Pair, values: FloatArray, left: bool) -> FloatArray:
    """``values`` (paired) with NaN on the pairs whose row in ``run`` did not finish."""
    finished = (pair.left if left else pair.right)(run.finished)
    return values if finished.all() else np.where(finished, values, np.nan)


def compare_runs(
    runs: Sequence[RunFrame],
    *,
    directions: Mapping[str, Direction] | None = None,
    item_tags: Mapping[str, Sequence[str]] | None = None,
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
    adjust_over: Collection[str] | None = None,
) -> Comparison:
    """Compare ``runs[1:]`` with the baseline ``runs[0]``.

    ``margin`` asks every metric for non-inferiority and equivalence within it, read in
    points for pass rates (``2`` = 0.02) and in the scorer's units for numeric scores;
    ``margins`` sets it per metric in the metric's own units and wins. ``p_adjust`` adjusts
    the p-values of every contrast (or of the metrics in ``adjust_over``) for multiplicity,
    and the verdicts use the adjusted values.

    ``directions`` says, per scorer, whether a higher or a lower value is better (default
    higher). ``items=False`` skips the per-item rows (statistics only); ``diffs=False`` skips
    the word diffs of differing outputs. ``only`` and ``tag`` select item rows (see
    :func:`~assay.analysis.items.filter_items`), ``offset``/``limit`` page them; statistics
    always cover every item.
    """
    if len(runs) < 2:
        raise InvalidInput("a comparison needs at least two runs", field="runs")
    seen: set[str] = set()
    for i, run in enumerate(runs):
        if run.run_id in seen:
            raise InvalidInput(f"run {run.run_id} is listed twice", field="runs", row=i)
        seen.add(run.run_id)
    if numeric_test not in ("auto", "permutation", "wilcoxon"):
        raise InvalidInput(f"unknown numeric test {numeric_test!r}", field="numeric_test")
    directions = dict(directions or {})
    for name, direction in directions.items():
        if direction not in ("higher", "lower"):
            raise InvalidInput(
                f"direction of {name!r} must be 'higher' or 'lower', not {direction!r}",
                field=f"directions.{name}",
            )
    base, others = runs[0], list(runs[1:])
    codes = item_codes(base) if base.repeated else None
    pairs = {o.run_id: _Pair(base, o, codes) for o in others}
    settings = _Settings(alpha, resamples, permutations, numeric_test, seed)
    settings.margins = _margins(margin, margins)

    metrics = [_pass_metric(base, others, pairs, settings)]
    for name in _scorer_names(runs):
        metrics.append(
            _scorer_metric(name, directions.get(name, "higher"), base, others, pairs, settings)
        )
    metrics = _adjusted(metrics, p_adjust, adjust_over, alpha)
    regressions: dict[str, int] = {}
    improvements: dict[str, int] = {}
    for o in others:
        a = pairs[o.run_id].left(base.pass_metric())
        b = pairs[o.run_id].right(o.pass_metric())
        regressions[o.run_id] = int(np.sum((a == 1) & (b == 0)))
        improvements[o.run_id] = int(np.sum((a == 0) & (b == 1)))
    rows, total = (
        item_rows(
            runs, item_tags or {}, diffs=diffs, only=only, tag=tag, offset=offset, limit=limit
        )
        if items
        else ([], 0)
    )
    return Comparison(
        baseline_id=base.run_id,
        runs=[_info(r) for r in runs],
        metrics=metrics,
        usage=[_usage(name, runs) for name in ("latency_ms", "cost", "judge_cost")],
        items=rows,
        items_total=total,
        reliability=_reliability(runs),
        regressions=regressions,
        improvements=improvements,
        warnings=_warnings(runs),
        p_adjust=p_adjust,
    )


def _margins(margin: float | None, margins: Mapping[str, float] | None) -> dict[str | None, float]:
    """Margins by metric name; the key None holds the ``margin`` given for every metric."""
    out: dict[str | None, float] = {}
    if margin is not None:
        if not np.isfinite(margin) or margin <= 0:
            raise InvalidInput("margin must be a positive number", field="margin")
        out[None] = float(margin)
    for name, value in (margins or {}).items():
        if not np.isfinite(value) or value <= 0:
            raise InvalidInput(
                f"margin of {name!r} must be a positive number", field=f"margins.{name}"
            )
        out[name] = float(value)
    return out


def _adjusted(
    metrics: list[MetricComparison],
    method: PAdjust,
    over: Collection[str] | None,
    alpha: float,
) -> list[MetricComparison]:
    """The metrics with ``p_adjusted`` set over the family of contrasts, and verdicts that
    stay *better*/*worse* only when the adjusted p-value is still below ``alpha``."""
    family = [
        (i, j)
        for i, m in enumerate(metrics)
        if over is None or m.name in over
        for j in range(len(m.contrasts))
    ]
    fixed = adjust([metrics[i].contrasts[j].p_value for i, j in family], method)
    adjusted = dict(zip(family, fixed, strict=True))
    out = []
    for i, m in enumerate(metrics):
        contrasts = []
        for j, c in enumerate(m.contrasts):
            p = adjusted.get((i, j), c.p_value)
            keep = p is not None and p < alpha
            contrasts.append(
                c.model_copy(
                    update={
                        "p_adjusted": p,
                        "verdict": c.verdict if keep else Verdict.inconclusive,
                    }
                )
            )
        out.append(m.model_copy(update={"contrasts": contrasts}))
    return out


class _Settings:
    def __init__(
        self, alpha: float, resamples: int, permutations: int, numeric: NumericTest, seed: int
    ) -> None:
        if not 0 < alpha < 1:
            raise InvalidInput("alpha must be between 0 and 1", field="alpha")
        if resamples < 100:
            raise InvalidInput("resamples must be at least 100", field="resamples")
        if permutations < 100:
            raise InvalidInput("permutations must be at least 100", field="permutations")
        self.alpha = alpha
        self.confidence = 1 - alpha
        self.resamples = resamples
        self.permutations = permutations
        self.numeric = numeric
        self.seed = seed
        self.margins: dict[str | None, float] = {}

    def margin(self, name: str, kind: MetricKind) -> float | None:
        if name in self.margins:
            return self.margins[name]
        given = self.margins.get(None)
        if given is None:
            return None
        return given / 100 if kind == "pass_fail" else given


def _scorer_names(runs: Sequence[RunFrame]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.scores))
    return list(names)


def _mean_and_count(run: RunFrame, values: FloatArray) -> tuple[float | None, int]:
    v = values[run.finished & ~np.isnan(values)]
    return (float(v.mean()) if v.size else None), int(v.size)


def _contrast(
    name: str,
    run_id: str,
    a: FloatArray,
    b: FloatArray,
    pair: _Pair,
    kind: MetricKind,
    direction: Direction,
    s: _Settings,
) -> Contrast:
    """The contrast of paired values ``a`` and ``b``; the same values under the same settings
    give the same contrast, which is remembered (see :mod:`assay.analysis.contrast_memo`)."""
    margin = s.margin(name, kind)
    options = (run_id, kind, direction, margin, s.alpha, s.resamples, s.permutations, s.numeric)
    arrays = (a, b) if pair.clusters is None else (a, b, pair.clusters)
    return contrast_memo.remembered(
        (*options, s.seed),
        arrays,
        lambda: _compute_contrast(run_id, a, b, pair, kind, direction, margin, s),
    )


def _compute_contrast(
    run_id: str,
    a: FloatArray,
    b: FloatArray,
    pair: _Pair,
    kind: MetricKind,
    direction: Direction,
    margin: float | None,
    s: _Settings,
) -> Contrast:
    d = cluster_differences(a, b, pair.clusters)
    if d.size == 0:
        return Contrast(
            run_id=run_id,
            n=0,
            difference=None,
            ci_low=None,
            ci_high=None,
            confidence=s.confidence,
            p_value=None,
            test=None,
            verdict=Verdict.inconclusive,
        )
    rows = int(np.sum(~(np.isnan(a) | np.isnan(b))))
    test: Significance
    if kind == "pass_fail" and rows == d.size:
        test = mcnemar_exact(a, b)
    elif kind == "pass_fail" or s.numeric == "permutation":
        test = permutation_test(d, permutations=s.permutations, seed=s.seed)
    elif s.numeric == "wilcoxon" or permutation_cost(d, s.permutations) > PERMUTATION_BUDGET:
        test = wilcoxon_test(d)
    else:
        test = permutation_test(d, permutations=s.permutations, seed=s.seed)
    ci = bootstrap_ci(d, resamples=s.resamples, confidence=s.confidence, seed=s.seed)
    return Contrast(
        run_id=run_id,
        n=int(d.size),
        difference=ci.estimate,
        ci_low=ci.low,
        ci_high=ci.high,
        confidence=s.confidence,
        p_value=test.p_value,
        test=test.test,
        verdict=verdict(ci, test, direction=direction, alpha=s.alpha),
        margin=None
        if margin is None
        else margin_test(a, b, d, kind=kind, margin=margin, direction=direction, alpha=s.alpha),
    )


def _pass_metric(
    base: RunFrame, others: list[RunFrame], pairs: dict[str, _Pair], s: _Settings
) -> MetricComparison:
    runs = [base, *others]
    stats = {r.run_id: _mean_and_count(r, r.pass_metric()) for r in runs}
    base_pass = base.pass_metric()
    contrasts = [
        _contrast(
            PASS_METRIC,
            o.run_id,
            pairs[o.run_id].left(base_pass),
            pairs[o.run_id].right(o.pass_metric()),
            pairs[o.run_id],
            "pass_fail",
            "higher",
            s,
        )
        for o in others
    ]
    return MetricComparison(
        name=PASS_METRIC,
        kind="pass_fail",
        direction="higher",
        means={k: v[0] for k, v in stats.items()},
        counts={k: v[1] for k, v in stats.items()},
        contrasts=contrasts,
    )


def _scorer_metric(
    name: str,
    direction: Direction,
    base: RunFrame,
    others: list[RunFrame],
    pairs: dict[str, _Pair],
    s: _Settings,
) -> MetricComparison:
    runs = [base, *others]
    columns = [r.scores.get(name) for r in runs]
    present = [c for c in columns if c is not None]
    kind: MetricKind = "pass_fail" if all(c.is_pass_fail for c in present) else "numeric"
    values = [
        (c.passed if kind == "pass_fail" else c.value) if c is not None else None for c in columns
    ]
    means: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for run, v in zip(runs, values, strict=True):
        means[run.run_id], counts[run.run_id] = (
            _mean_and_count(run, v) if v is not None else (None, 0)
        )
    contrasts: list[Contrast] = []
    base_v = values[0]
    for o, v in zip(others, values[1:], strict=True):
        pair = pairs[o.run_id]
        a = pair.left(base_v) if base_v is not None else np.full(pair.size, np.nan)
        b = pair.right(v) if v is not None else np.full(pair.size, np.nan)
        a = _where_finished(base, pair, a, left=True)
        b = _where_finished(o, pair, b, left=False)
        contrasts.append(_contrast(name, o.run_id, a, b, pair, kind, direction, s))
    return MetricComparison(
        name=name,
        kind=kind,
        direction=direction,
        means=means,
        counts=counts,
        contrasts=contrasts,
    )


def _distribution(values: FloatArray) -> UsageDistribution:
    v = values[~np.isnan(values)]
    if v.size == 0:
        return UsageDistribution(count=0, total=None, mean=None, p50=None, p95=None)
    p50, p95 = np.percentile(v, [50, 95])
    return UsageDistribution(
        count=int(v.size), total=float(v.sum()), mean=float(v.mean()), p50=p50, p95=p95
    )


def _minus(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else x - y


def _usage(
    name: Literal["latency_ms", "cost", "judge_cost"], runs: Sequence[RunFrame]
) -> UsageComparison:
    dists = {r.run_id: _distribution(getattr(r, name)) for r in runs}
    base = dists[runs[0].run_id]
    deltas = [
        DistributionDelta(
            run_id=r.run_id,
            total=_minus(dists[r.run_id].total, base.total),
            mean=_minus(dists[r.run_id].mean, base.mean),
            p95=_minus(dists[r.run_id].p95, base.p95),
        )
        for r in runs[1:]
    ]
    return UsageComparison(name=name, runs=dists, deltas=deltas)


def _info(run: RunFrame) -> RunInfo:
    return RunInfo(
        run_id=run.run_id,
        name=run.name,
        dataset_id=run.dataset_id,
        dataset_version=run.dataset_version,
        results=len(run),
        items=run.item_count,
        finished=int(run.finished.sum()),
        unaligned=run.unaligned,
    )


def _warnings(runs: Sequence[RunFrame]) -> list[CompareWarning]:
    out: list[CompareWarning] = []
    base = runs[0]
    for run in runs[1:]:
        pair = f"{run.name!r} and baseline {base.name!r}"
        if run.content_aligned:
            out.append(
                CompareWarning(
                    code="content_aligned",
                    message=f"{pair} ran different datasets: {run.content_aligned} items were "
                    "matched by content (same input and expected output)",
                )
            )
        elif run.dataset_id != base.dataset_id:
            out.append(CompareWarning(code="dataset", message=f"{pair} ran different datasets"))
        elif run.dataset_version != base.dataset_version:
            out.append(
                CompareWarning(
                    code="dataset_version",
                    message=f"{pair} used different dataset versions "
                    f"({run.dataset_version} vs {base.dataset_version})",
                )
            )
        only_base, only_run, shared = _overlap(base, run)
        if only_base or only_run:
            out.append(
                CompareWarning(
                    code="item_set",
                    message=f"{pair} cover different items: {only_base} only in the baseline, "
                    f"{only_run} only in {run.name!r}; statistics use the {shared} shared items",
                )
            )
        for name in set(base.scores) ^ set(run.scores):
            missing = run.name if name in base.scores else base.name
            out.append(
                CompareWarning(
                    code="scorer_missing", message=f"scorer {name!r} has no scores in {missing!r}"
                )
            )
    for run in runs:
        if run.unaligned:
            out.append(
                CompareWarning(
                    code="unaligned",
                    message=f"{plural(run.unaligned, 'result')} of {run.name!r} "
                    + ("has no item id and is" if run.unaligned == 1 else "have no item id and are")
                    + " left out",
                )
            )
        unfinished = len(run) - int(run.finished.sum())
        if unfinished:
            out.append(
                CompareWarning(
                    code="unfinished",
                    message=f"{plural(unfinished, 'result')} of {run.name!r} did not finish "
                    f"and {'is' if unfinished == 1 else 'are'} left out of the statistics",
                )
            )
    return out


def _covered(run: RunFrame) -> IdArray:
    """The items a run covers, once each: its selection when known, else its results'."""
    if run.selection is not None:
        return encode(sorted(run.selection))
    return run.distinct_ids()


def _overlap(base: RunFrame, run: RunFrame) -> tuple[int, int, int]:
    """How many items only the baseline covers, only ``run`` covers, and both."""
    if (
        base.selection is None
        and run.selection is None
        and np.array_equal(base.item_ids, run.item_ids)
    ):
        return 0, 0, base.item_count
    ours, theirs = _covered(base), _covered(run)
    shared = int(np.count_nonzero(find(theirs, ours) >= 0))
    return ours.size - shared, theirs.size - shared, shared


def _reliability(runs: Sequence[RunFrame]) -> list[ItemReliability]:
    """Per-item pass rates for items with several finished trials in some run."""
    per_item: dict[str, dict[str, tuple[float, int]]] = {}
    for run in runs:
        if not run.repeated:
            continue
        done = run.finished
        ids, inverse, trials = np.unique(
            run.item_ids[done], return_inverse=True, return_counts=True
        )
        if not (trials > 1).any():
            continue
        passes = np.bincount(inverse, weights=run.pass_metric()[done], minlength=ids.size)
        for item, n, k in zip(decode(ids), trials.tolist(), passes.tolist(), strict=True):
            per_item.setdefault(item, {})[run.run_id] = (k / n, n)
    out: list[ItemReliability] = []
    for item, by_run in per_item.items():
        if not any(n > 1 for _, n in by_run.values()):
            continue
        out.append(
            ItemReliability(
                item_id=item,
                pass_rates={r: rate for r, (rate, _) in by_run.items()},
                trials={r: n for r, (_, n) in by_run.items()},
                flaky_in=[r for r, (rate, n) in by_run.items() if n > 1 and 0 < rate < 1],
            )
        )
    out.sort(key=lambda r: (not r.flaky_in, r.item_id))
    return out
