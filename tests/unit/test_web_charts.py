"""Chart geometry for the dashboard's SVG charts."""

from __future__ import annotations

from assay.domain import HistogramBin
from assay.server.web import charts


def test_line_places_runs_left_to_right_and_values_bottom_to_top() -> None:
    chart = charts.line("pass rate", [("a", 0.0), ("b", None), ("c", 1.0)], low=0.0, high=1.0)
    assert [d.label for d in chart.dots] == ["a: 0.00", "c: 1.00"]  # b has no value: a gap
    first, last = chart.dots
    assert (first.x, first.y) == (charts.LEFT, charts.BOTTOM)
    assert (last.x, last.y) == (charts.RIGHT, charts.TOP)
    assert chart.line == f"{first.x},{first.y} {last.x},{last.y}"
    assert [t.label for t in chart.ticks] == ["0.00", "0.50", "1.00"]
    assert [t.label for t in chart.xticks] == ["a", "c"]


def test_line_with_one_value_or_none() -> None:
    single = charts.line("cost", [("only", 0.5)])
    assert len(single.dots) == 1
    assert single.dots[0].x == (charts.LEFT + charts.RIGHT) / 2
    assert charts.line("cost", [("a", None)]).empty
    assert charts.line("cost", []).empty


def test_histogram_bars_scale_to_the_fullest_bin() -> None:
    bins = [HistogramBin(lower=0, upper=0.5, count=2), HistogramBin(lower=0.5, upper=1, count=4)]
    chart = charts.histogram("scores", bins)
    low, high = chart.bars
    assert high.height == charts.BOTTOM - charts.TOP
    assert low.height == high.height / 2
    assert low.label == "0.00 to 0.50: 2"
    assert charts.histogram("scores", [HistogramBin(lower=0, upper=1, count=0)]).empty
