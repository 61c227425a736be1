"""Trend series, histograms and dataset health."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_support import frame, result, score

from assay.analysis import RunFrame, dataset_health, score_histogram, trend
from assay.domain import ResultStatus
from assay.errors import InvalidInput


def test_trend_points_per_run() -> None:
    run = RunFrame.from_results(
        [
            result("r", "a", latency_ms=100, cost=0.5, scores=[score("acc", 1.0, cost=0.1)]),
            result("r", "b", latency_ms=300, cost=0.5, passed=False, scores=[score("acc", 0.0)]),
            result("r", "c", status=ResultStatus.failed, passed=None, latency_ms=200, cost=None),
            result("r", "d", status=ResultStatus.running, passed=None, latency_ms=None, cost=None),
        ],
        run_id="r",
    )
    (point,) = trend([run])
    assert point.results == 4
    assert point.finished == 3
    assert point.pass_rate == pytest.approx(1 / 3)
    assert point.error_rate == pytest.approx(1 / 3)
    assert point.scores == {"acc": 0.5}
    assert point.cost == 1.0
    assert point.judge_cost == pytest.approx(0.1)
    assert point.latency_p50 == 200
    assert point.latency_p95 == pytest.approx(290)


def test_trend_keeps_run_order_and_handles_empty_runs() -> None:
    empty = frame("e", [])
    points = trend([frame("x", [1, 0]), empty])
    assert [p.run_id for p in points] == ["x", "e"]
    assert points[1].pass_rate is None
    assert points[1].latency_p95 is None
    assert points[1].error_rate is None


def test_histogram_bins_and_missing_values() -> None:
    run = frame("r", np.ones(5), scores={"acc": [0.0, 0.5, 1.0, 1.0, np.nan]})
    hist = score_histogram(run, "acc", bins=2)
    assert hist.edges == [0.0, 0.5, 1.0]
    assert hist.counts == [1, 3]
    assert hist.missing == 1
    flat = score_histogram(frame("f", np.ones(2), scores={"acc": [3.0, 3.0]}), "acc", bins=1)
    assert flat.counts == [2]
    with pytest.raises(InvalidInput, match="no scores named 'nope'"):
        score_histogram(run, "nope")


def test_dataset_health_across_history() -> None:
    runs = [
        frame(f"r{k}", passed, items=["broken", "easy", "flaky", "new"][: len(passed)])
        for k, passed in enumerate([[0, 1, 1], [0, 1, 0], [0, 1, 1, 1]])
    ]
    health = dataset_health(runs)
    assert health.always_fail == ["broken"]
    assert health.never_fail == ["easy"]
    assert health.flaky == ["flaky"]
    assert "new" not in health.never_fail  # one outcome says nothing yet
    assert health.pass_rates["flaky"] == pytest.approx(2 / 3)
    with pytest.raises(InvalidInput):
        dataset_health([])
