"""The analytics page's cost/quality chart: every run at its cost per item and pass rate with
the interval, the Pareto front marked and joined, and a sentence when no run has a cost."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

import assay
from assay.domain import DatasetCreate, ItemCreate
from assay.scorers import exact_match
from assay.store import Store

N = 20


def _runner(cost: float, wrong: int) -> assay.Task:
    def run(x: dict[str, int]) -> assay.TargetOutput:
        k = x["k"]
        return assay.TargetOutput(output="no" if k < wrong else str(k), cost=cost)

    run.__qualname__ = f"cost_{cost}_wrong_{wrong}".replace(".", "_")
    return run


def _dataset(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="cq"))
    store.datasets.add_items(
        "cq", [ItemCreate(input={"k": k}, expected_output=str(k)) for k in range(N)]
    )


def test_runs_on_the_front_are_marked_and_joined(http: TestClient, store: Store) -> None:
    _dataset(store)
    for name, cost, wrong in (
        ("cheap", 0.001, 8),  # 60 %: on the front (nothing cheaper)
        ("pricey-worse", 0.004, 10),  # 50 % at more cost: dominated by cheap
        ("best", 0.003, 0),  # 100 %: on the front
    ):
        assay.evaluate("cq", _runner(cost, wrong), [exact_match()], name=name, store=store)
    page = http.get("/datasets/cq/analytics")
    assert page.status_code == 200
    chart = page.text.split('id="cost-quality"')[1].split("</figure>")[0]
    labels = [
        html.unescape(t) for t in re.findall(r'class="(front|point)"[^>]*><title>([^<]+)', chart)
    ]
    by_run = {label.split(":")[0]: cls for cls, label in labels}
    assert by_run == {"cheap": "front", "best": "front", "pricey-worse": "point"}
    assert 'class="front-line"' in chart
    assert "the front, cheapest first: cheap, best." in html.unescape(chart)
    # the text alternative lists every run with its interval
    assert re.search(
        r"<td>pricey-worse</td><td>\$0\.0040</td><td>50 % \[\d+ %, \d+ %\]</td><td>no</td>", chart
    )


def test_without_costs_the_chart_says_so(http: TestClient, store: Store) -> None:
    _dataset(store)
    assay.evaluate("cq", lambda x: str(x["k"]), [exact_match()], name="free", store=store)
    chart = http.get("/datasets/cq/analytics").text.split('id="cost-quality"')[1]
    assert "no finished run recorded a cost." in chart.split("</figure>")[0]
