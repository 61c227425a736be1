"""Could the judge's own noise explain a difference between two runs?

A judge that grades each output ``k`` times (``repetitions``) shows its own variance per
call, ``s_j^2`` (the mean over outputs of the squared standard deviation of the ``k``
verdicts). A score is the mean of its ``k`` verdicts and an item's value the mean of its
``t`` trials, so the judge adds ``s_j^2 / (k t)`` to the variance of each run's item value,
and ``J = s_a^2 / (k_a t_a) + s_b^2 / (k_b t_b)`` to the variance of a per-item difference
``d``. The judge's share of ``Var(d)`` is ``J / Var(d)`` (capped at 1), and judge noise alone
could explain the mean difference when ``|mean d| / sqrt(J / n)`` is below the two-sided
critical value at ``alpha``. A run judged once per output borrows the other run's ``s_j^2``
(the same judge) and counts ``k = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from assay.analysis.frame import RunFrame
from assay.domain import Comparison
from assay.domain.comparison import JudgeNoise

Spread = tuple[float, int, int]  # judge variance per call, repetitions, outputs


def _item_values(run: RunFrame, metric: str) -> dict[str, tuple[float, int]]:
    column = run.scores.get(metric)
    if column is None:
        return {}
    keep = ~np.isnan(column.value)
    ids, inverse, counts = np.unique(run.item_ids[keep], return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=column.value[keep]) / counts
    return {
        i: (m, c) for i, m, c in zip(ids.tolist(), means.tolist(), counts.tolist(), strict=True)
    }


def judge_noise(
    runs: Sequence[RunFrame],
    spreads: Sequence[Mapping[str, Spread]],
    *,
    alpha: float = 0.05,
) -> list[JudgeNoise]:
    """Per judge metric with repetitions in some run and per run against the baseline."""
    base, base_spread = runs[0], spreads[0]
    crit = NormalDist().inv_cdf(1 - alpha / 2)
    out = []
    for run, spread in zip(runs[1:], spreads[1:], strict=True):
        for metric in sorted(set(base_spread) | set(spread)):
            a, b = base_spread.get(metric), spread.get(metric)
            var_a = a[0] if a else b[0] if b else 0.0
            var_b = b[0] if b else var_a
            k_a, k_b = (a[1] if a else 1), (b[1] if b else 1)
            before, after = _item_values(base, metric), _item_values(run, metric)
            common = [i for i in before if i in after]
            if len(common) < 2:
                continue
            d = np.array([after[i][0] - before[i][0] for i in common])
            inv_ta = float(np.mean([1 / before[i][1] for i in common]))
            inv_tb = float(np.mean([1 / after[i][1] for i in common]))
            judge = var_a / k_a * inv_ta + var_b / k_b * inv_tb
            var_d = float(np.var(d, ddof=1))
            share = 1.0 if var_d == 0 and judge > 0 else min(1.0, judge / var_d) if var_d else 0.0
            mean = float(d.mean())
            z = abs(mean) / math.sqrt(judge / d.size) if judge > 0 else None
            explained = z is not None and z < crit
            out.append(
                JudgeNoise(
                    metric=metric,
                    run_id=run.run_id,
                    repetitions={base.run_id: k_a, run.run_id: k_b},
                    judge_variance=(var_a + var_b) / 2,
                    difference=mean,
                    difference_variance=var_d,
                    judge_share=share,
                    judge_z=z,
                    explained=explained,
                    message=_sentence(metric, run.name, mean, share, z, explained),
                )
            )
    return out


def _sentence(
    metric: str, name: str, mean: float, share: float, z: float | None, explained: bool
) -> str:
    head = (
        f"{metric} ({name} vs baseline): the judge's own noise is {100 * share:.0f}% of the "
        f"variance of the per-item differences"
    )
    if z is None:
        return f"{head}; the judge gave the same verdict every time, so it explains nothing."
    if explained:
        return (
            f"{head}; the mean difference {mean:+.3f} is {z:.1f} standard errors of judge "
            "noise alone, so judge noise could explain it: grade with more repetitions."
        )
    return (
        f"{head}; the mean difference {mean:+.3f} is {z:.1f} standard errors of judge "
        "noise alone, so judge noise does not explain it."
    )


def with_judge_noise(
    comparison: Comparison, runs: Sequence[RunFrame], spreads: Sequence[Mapping[str, Spread]]
) -> Comparison:
    """``comparison`` with its judge-noise estimates (unchanged when no judge repeated)."""
    if not any(spreads):
        return comparison
    return comparison.model_copy(update={"judge_noise": judge_noise(runs, spreads)})
