"""Variance components of the planner recovered from simulated runs with known values."""

from __future__ import annotations

import numpy as np
import pytest

from assay.analysis.frame import COMPLETED, RunFrame, ScoreColumn
from assay.analysis.run_plan import item_means, pair_tau2, pooled_within, single_tau2

ITEMS, TRIALS = 4000, 3


def _run(name: str, values: np.ndarray) -> RunFrame:
    n = values.size
    items = np.repeat(np.arange(ITEMS), TRIALS).astype(str)
    nan = np.full(n, np.nan)
    return RunFrame(
        run_id=name,
        name=name,
        item_ids=items,
        repetition=np.tile(np.arange(TRIALS), ITEMS).astype(np.int64),
        status=np.full(n, COMPLETED, dtype=np.int8),
        passed=nan,
        latency_ms=nan,
        cost=nan,
        judge_cost=nan,
        scores={"s": ScoreColumn(values, nan)},
    )


def test_tau2_and_within_are_recovered() -> None:
    rng = np.random.default_rng(7)
    tau2, within, between = 0.04, 0.09, 0.25
    item = rng.normal(0, np.sqrt(between), ITEMS)
    shift = rng.normal(0, np.sqrt(tau2), ITEMS)  # per-item true difference of system b

    def noise() -> np.ndarray:
        return rng.normal(0, np.sqrt(within), ITEMS * TRIALS)

    a = item_means(_run("a", np.repeat(item, TRIALS) + noise()), "s")
    b = item_means(_run("b", np.repeat(item + shift, TRIALS) + noise()), "s")
    assert a is not None
    assert b is not None
    assert item_means(_run("a", np.zeros(ITEMS * TRIALS)), "missing") is None
    w = pooled_within([a, b])
    assert w == pytest.approx(within, rel=0.05)
    assert w is not None
    assert pair_tau2(b, a, w) == pytest.approx(tau2, rel=0.15)
    # One system alone: twice its item variance (two uncorrelated systems).
    assert single_tau2(a, w) == pytest.approx(2 * between, rel=0.1)


def test_one_trial_runs_keep_trial_noise_inside_tau2() -> None:
    single = item_means(_run("x", np.zeros(ITEMS * TRIALS)), "s")
    assert single is not None
    assert pooled_within([single]) == 0.0
