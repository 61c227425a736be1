"""Trend series over in-memory runs."""

from __future__ import annotations

import pytest

from assay.analysis import RunFrame, trend
from assay.domain import ResultStatus
from tests.unit.analysis_support import frame, result, score


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
