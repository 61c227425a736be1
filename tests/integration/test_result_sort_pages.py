"""Results sorted by latency, cost or a score, read from indexes: every page in both directions,
with filters and search, matches the order computed here from the values (a missing value
last either way, ties by result id, a result's score the largest of its sources)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from assay.domain import ResultStatus, ScoreCreate, ScoreSource
from assay.store import Store
from tests.integration.table_support import Row, dataset, recorded_run

# (latency, cost, acc score: a value, None for a score without a value, "-" for no score row)
VALUES: list[tuple[float | None, float | None, float | str | None]] = [
    (5, 0.1, 0.5),
    (3, None, 0.9),
    (None, 0.2, None),
    (5, 0.2, 0.1),
    (1, 0.05, "-"),
    (None, None, 0.5),
    (7, 0.3, 0.7),
    (3, 0.1, "-"),
    (9, None, 0.3),
    (None, 0.4, 0.9),
    (2, 0.1, None),
    (5, 0.05, 0.2),
]
#: Human scores of "acc" on some results: above, below and equal to the evaluator's value.
HUMAN = {3: 0.95, 6: 0.2, 0: 0.5, 4: 0.6, 2: 0.4}


@pytest.fixture
def run(store: Store) -> tuple[str, list[str]]:
    dataset(store, "sorted", [{"q": f"question {i}"} for i in range(len(VALUES))])
    rows = [
        Row(
            output=f"answer {i}" + (" needle" if i % 3 == 0 else ""),
            latency=latency,
            cost=cost,
            scores={} if acc == "-" else {"acc": None if acc is None else float(acc)},
            passed=i % 4 != 1,
        )
        for i, (latency, cost, acc) in enumerate(VALUES)
    ]
    run_id = recorded_run(store, "sorted", "sorted", rows)
    ids = [r.id for r in store.experiments.iter_results(run_id)]
    for i, value in HUMAN.items():
        store.scores.upsert(
            ScoreCreate(name="acc", value=value, source=ScoreSource.human), result_id=ids[i]
        )
    return run_id, ids


def _value(field: str, i: int) -> float | None:
    latency, cost, acc = VALUES[i]
    if field == "latency":
        return latency
    if field == "cost":
        return cost
    given = [v for v in (None if acc == "-" else acc, HUMAN.get(i)) if isinstance(v, float)]
    return max(given) if given else None


def _expected(ids: list[str], sort: str, keep: Callable[[int], bool]) -> list[str]:
    descending = sort.startswith("-")
    field = sort.lstrip("-").removeprefix("score:")
    field = "score" if field == "acc" else field
    rows = [i for i in range(len(ids)) if keep(i)]
    valued = sorted(
        (i for i in rows if _value(field, i) is not None),
        key=lambda i: (_value(field, i), ids[i]),
        reverse=descending,
    )
    empty = sorted((i for i in rows if _value(field, i) is None), key=lambda i: ids[i])
    if descending:
        empty.reverse()
    return [ids[i] for i in valued + empty]


FILTERS: dict[str, tuple[dict[str, object], Callable[[int], bool]]] = {
    "all": ({}, lambda i: True),
    "passed": ({"passed": True}, lambda i: i % 4 != 1),
    "failed": ({"passed": False}, lambda i: i % 4 == 1),
    "search": ({"search": "NEEDLE"}, lambda i: i % 3 == 0),
    "errors": ({"status": ResultStatus.failed}, lambda i: False),
}


SORTS = ["latency", "-latency", "cost", "-cost", "score:acc", "-score:acc"]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 3, 5])
def test_every_page_both_ways(
    store: Store, run: tuple[str, list[str]], sort: str, limit: int
) -> None:
    run_id, ids = run
    for name, (options, keep) in FILTERS.items():
        expected = _expected(ids, sort, keep)
        pages = []
        cursor = None
        while True:
            page = store.experiments.result_table(
                run_id, sort=sort, limit=limit, cursor=cursor, **options
            )
            pages.append(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        forward = [r.id for p in pages for r in p.results]
        assert forward == expected, (name, sort)
        # a search is counted only when its matches fit on the first page
        searched_more = "search" in options and len(expected) > limit
        assert pages[0].total == (None if searched_more else len(expected))
        # back from the last page to the first, each page the same as on the way forward
        back = pages[-1]
        for earlier in reversed(pages[:-1]):
            assert back.prev_cursor is not None, (name, sort)
            back = store.experiments.result_table(
                run_id, sort=sort, limit=limit, cursor=back.prev_cursor, **options
            )
            assert [r.id for r in back.results] == [r.id for r in earlier.results], (name, sort)
        assert back.prev_cursor is None


def test_a_human_score_moves_a_result_in_score_order(
    store: Store, run: tuple[str, list[str]]
) -> None:
    run_id, ids = run
    first = store.experiments.result_table(run_id, sort="-score:acc", limit=1)
    assert first.results[0].id == ids[3]  # the human's 0.95 outranks the evaluator's 0.1
    store.scores.upsert(
        ScoreCreate(name="acc", value=0.99, source=ScoreSource.human), result_id=ids[11]
    )
    again = store.experiments.result_table(run_id, sort="-score:acc", limit=1)
    assert again.results[0].id == ids[11]
