"""The dashboard's tables and charts on each database: sorting (missing values last), pages
that keep the order both ways, search in a run, one result's page, and the charts' empty and
failed-run states."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from assay.domain import ExperimentStatus
from assay.store import Store
from tests.integration.table_support import Row, dataset, recorded_run

HX = {"HX-Request": "true", "HX-Target": "results"}
# (latency, cost, score); None: no value
VALUES = [
    (5, 0.1, 0.5),
    (3, 0.3, 0.9),
    (9, None, 0.1),
    (1, 0.2, None),
    (7, 0.05, 0.7),
    (None, 0.4, 0.3),
]


def _ids(page: str) -> list[str]:
    return re.findall(r'<tr class="result" data-status="[a-z]+" data-id="([^"]+)"', page)


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    dataset(
        store,
        "tables",
        [{"q": f"question {i}", "note": "x" * (400 if i == 2 else 3)} for i in range(6)],
    )
    rows = [
        Row(output=f"answer {i}", latency=lt, cost=c, scores={"acc": s})
        for i, (lt, c, s) in enumerate(VALUES)
    ]
    a = recorded_run(store, "tables", "alpha", rows)
    b = recorded_run(
        store, "tables", "beta", [Row(latency=10.0 * i, scores={"acc": i / 6}) for i in range(6)]
    )
    return {"a": a, "b": b}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("latency", [3, 1, 0, 4, 2, 5]),
        ("-latency", [2, 4, 0, 1, 3, 5]),
        ("cost", [4, 0, 3, 1, 5, 2]),
        ("-cost", [5, 1, 3, 0, 4, 2]),
        ("score:acc", [2, 5, 0, 4, 1, 3]),
        ("-score:acc", [1, 4, 0, 5, 2, 3]),
    ],
)
def test_results_sort_with_missing_values_last(
    http: TestClient, store: Store, runs: dict[str, str], sort: str, expected: list[int]
) -> None:
    plan = [r.id for r in store.experiments.iter_results(runs["a"])]
    page = http.get(f"/runs/{runs['a']}", params={"sort": sort})
    assert page.status_code == 200
    assert _ids(page.text) == [plan[i] for i in expected]
    direction = "descending" if sort.startswith("-") else "ascending"
    assert page.text.count(f'aria-sort="{direction}"') == 1
    assert page.text.count("aria-sort=") == 1


def test_pages_keep_the_order_both_ways(
    http: TestClient, store: Store, runs: dict[str, str]
) -> None:
    order: list[str] = []
    pages = []
    cursor = None
    while True:
        page = store.experiments.result_table(runs["a"], sort="-latency", limit=4, cursor=cursor)
        pages.append(page)
        order += [r.id for r in page.results]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    whole = store.experiments.result_table(runs["a"], sort="-latency", limit=100)
    assert order == [r.id for r in whole.results]
    assert pages[0].prev_cursor is None
    assert pages[0].total == 6
    back = store.experiments.result_table(
        runs["a"], sort="-latency", limit=4, cursor=pages[1].prev_cursor
    )
    assert [r.id for r in back.results] == [r.id for r in pages[0].results]
    assert back.prev_cursor is None
    assert back.next_cursor is not None
    # the tabs, the live refresh and the search keep the order
    first = http.get(f"/runs/{runs['a']}", params={"sort": "-latency"}, headers=HX).text
    assert 'rel="prev"' not in first
    assert 'rel="next"' not in first
    assert "outcome=failed&amp;sort=-latency" in first


def test_bad_sort_and_cursor_name_the_field(http: TestClient, runs: dict[str, str]) -> None:
    page = http.get(f"/runs/{runs['a']}", params={"sort": "colour"})
    assert page.status_code == 422
    assert "sort" in page.text
    page = http.get(f"/runs/{runs['a']}", params={"cursor": "nonsense"})
    assert page.status_code == 422
    assert "cursor" in page.text


def test_search_inside_a_run(http: TestClient, store: Store, runs: dict[str, str]) -> None:
    plan = [r.id for r in store.experiments.iter_results(runs["a"])]
    by_input = http.get(f"/runs/{runs['a']}", params={"q": "QUESTION 4"}, headers=HX).text
    assert _ids(by_input) == [plan[4]]
    assert "1 matching result" in by_input
    by_output = http.get(f"/runs/{runs['a']}", params={"q": "answer 1", "sort": "latency"}).text
    assert _ids(by_output) == [plan[1]]
    by_expected = http.get(f"/runs/{runs['a']}", params={"q": "expected 5"}).text
    assert _ids(by_expected) == [plan[5]]
    none = http.get(f"/runs/{runs['a']}", params={"q": "no such text"}).text
    assert _ids(none) == []
    assert "containing “no such text”" in none


def test_long_values_are_clipped_with_an_expand_control(
    http: TestClient, runs: dict[str, str]
) -> None:
    page = http.get(f"/runs/{runs['a']}").text
    assert page.count('<details class="clip">') == 1  # only item 2's long input
    assert "x" * 400 in page


def test_result_page(http: TestClient, store: Store, runs: dict[str, str]) -> None:
    result = list(store.experiments.iter_results(runs["a"]))[1]
    page = http.get(f"/runs/{runs['a']}/results/{result.id}")
    assert page.status_code == 200
    text = page.text
    assert "question 1" in text
    assert "expected 1" in text
    assert "answer 1" in text
    assert 'data-score="acc"' in text
    assert "because 0.9" in text
    assert 'id="result-latency">0.00 s<' in text
    assert 'id="result-tokens">15<' in text
    assert "$0.30" in text or "0.3" in text
    assert "trial 1" in text
    assert f'href="/runs/{runs["a"]}/results/{result.id}"' in http.get(f"/runs/{runs['a']}").text
    missing = http.get(f"/runs/{runs['a']}/results/nope")
    assert missing.status_code == 404
    other = http.get(f"/runs/{runs['b']}/results/{result.id}")  # not this run's result
    assert other.status_code == 404


def test_runs_and_datasets_sort_by_column(
    http: TestClient, store: Store, runs: dict[str, str]
) -> None:
    dataset(store, "another", [{"q": "x"}])
    recorded_run(store, "another", "gamma", [Row(latency=None, cost=None, passed=None)])
    names = lambda page: re.findall(r'<td><a href="/runs/[^"]+">([a-z]+)</a></td>', page)  # noqa: E731
    assert (
        names(http.get("/runs", params={"sort": "dataset"}).text) == ["gamma", "alpha", "beta"]
        or names(http.get("/runs", params={"sort": "dataset"}).text)[0] == "gamma"
    )
    by_latency = names(http.get("/runs", params={"sort": "latency"}).text)
    assert by_latency[-1] == "gamma"  # no latency: last either way
    assert names(http.get("/runs", params={"sort": "-latency"}).text)[-1] == "gamma"
    dataset_runs = http.get("/datasets/tables/runs", params={"sort": "-name"}).text
    assert dataset_runs.index(">beta<") < dataset_runs.index(">alpha<")
    assert 'aria-sort="descending"' in dataset_runs
    listed = http.get("/datasets", params={"sort": "name"}).text
    assert listed.index(">another<") < listed.index(">tables<")
    assert 'aria-sort="ascending"' in listed


def test_runs_list_pages_both_ways(http: TestClient, store: Store) -> None:
    dataset(store, "many", [{"q": "x"}])
    for i in range(53):
        recorded_run(store, "many", f"run-{i:02d}", [Row()])
    first = http.get("/runs", params={"sort": "name"}).text
    assert 'rel="prev"' not in first
    nxt = re.search(r'rel="next" href="([^"]+)"', first)
    assert nxt is not None
    second = http.get(nxt.group(1).replace("&amp;", "&")).text
    assert "run-52" in second
    assert "run-00" not in second
    prev = re.search(r'rel="prev" href="([^"]+)"', second)
    assert prev is not None
    again = http.get(prev.group(1).replace("&amp;", "&")).text
    assert re.findall(r">run-\d\d<", again) == re.findall(r">run-\d\d<", first)


def test_compare_charts(http: TestClient, runs: dict[str, str]) -> None:
    page = http.get("/compare", params={"runs": [runs["a"], runs["b"]]}).text
    forest = page[page.index('id="forest"') : page.index("</figure>", page.index('id="forest"'))]
    assert 'class="estimate' in forest
    assert "whisker" in forest
    assert '<table class="visually-hidden">' in forest
    scatter = page[page.index('id="scatters"') :]
    assert scatter.count('class="point"') == 5  # every item but 3 has acc in both runs
    assert "5 of 5 paired items" in scatter
    spreads = page[page.index('id="spreads"') :]
    assert "Latency (ms)" in spreads
    assert "Target cost (USD)" in spreads
    assert 'class="bar series-0"' in spreads
    assert 'class="bar series-1"' in spreads


def test_charts_empty_and_failed_runs(http: TestClient, store: Store) -> None:
    dataset(store, "empty", [{"q": "x"}, {"q": "y"}])
    empty = http.get("/datasets/empty/analytics").text
    assert "No runs yet" in empty
    ok = recorded_run(store, "empty", "ok", [Row(cost=1234.5), Row(cost=2000.0)])
    recorded_run(
        store,
        "empty",
        "broken",
        [Row(error="down"), Row(error="down")],
        status=ExperimentStatus.failed,
    )
    page = http.get("/datasets/empty/analytics").text
    assert "e+0" not in page
    cost = page[
        page.index('id="trend-cost"') : page.index("</figure>", page.index('id="trend-cost"'))
    ]
    assert "$3,234" in cost  # thousands separated
    assert cost.count('class="flag"') == 1
    assert "broken" in cost
    assert "not plotted" in cost
    assert cost.count('class="dot"') == 1  # the failed run is not drawn as a zero
    # a comparison without numeric scores or values draws sentences, not empty axes
    other = recorded_run(
        store, "empty", "other", [Row(latency=None, cost=None), Row(latency=None, cost=None)]
    )
    third = recorded_run(
        store, "empty", "third", [Row(latency=None, cost=None), Row(latency=None, cost=None)]
    )
    cmp = http.get("/compare", params={"runs": [other, third]}).text
    assert 'id="scatters"' not in cmp
    assert cmp.count("no finished result has a value for it") == 2  # latency and cost
    assert http.get("/compare", params={"runs": [ok, other]}).status_code == 200
    health = http.get("/datasets/empty/analytics", params={"health": "always_fail"}).text
    assert "No always fail items" in health
    assert http.get("/datasets/empty/analytics", params={"health": "bogus"}).status_code == 422


def test_health_lists_always_failing_items_with_pages(http: TestClient, store: Store) -> None:
    dataset(store, "hard", [{"q": i} for i in range(60)])
    for r in range(2):
        recorded_run(store, "hard", f"r{r}", [Row(passed=False) for _ in range(60)])
    page = http.get("/datasets/hard/analytics", params={"health": "always_fail"}).text
    assert page.count('data-kind="always_fail"') == 50
    assert "1\u201350 of 60" in page
    rest = http.get("/datasets/hard/analytics", params={"health": "always_fail", "offset": 50}).text
    assert rest.count('data-kind="always_fail"') == 10
    assert "← previous" in rest
