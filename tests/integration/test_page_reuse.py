"""What the run and comparison pages reuse instead of recomputing: run aggregates kept per data
revision (and dropped when a person scores a result), contrasts remembered by their values, the
comparison page's gate from the comparison's own frames, and a search that counts only what
fits on a page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from assay.analysis import contrast_memo
from assay.analysis.service import SharedFrames
from assay.domain import PASS_METRIC, GateVerdict, ScoreCreate, ScoreSource
from assay.service.compare import compare_runs, gate, gates_against, unscored
from assay.store import Store, run_cache
from tests.integration.table_support import Row, dataset, recorded_run

N = 40


@pytest.fixture
def runs(store: Store) -> tuple[str, str]:
    dataset(store, "reuse", [{"q": f"question {i}"} for i in range(N)])
    base = [
        Row(latency=10.0 + i, passed=i % 3 != 0, scores={"quality": (i % 7) / 7}) for i in range(N)
    ]
    feature = [
        Row(latency=5.0 + i, passed=i % 5 != 0, scores={"quality": (i % 5) / 5}) for i in range(N)
    ]
    return recorded_run(store, "reuse", "main", base), recorded_run(
        store, "reuse", "feature", feature
    )


@pytest.fixture(autouse=True)
def _fresh() -> None:
    contrast_memo.clear()
    run_cache.clear()


def _verdict(v: GateVerdict | str) -> tuple[bool, list[str], list[tuple[str, bool, object]]]:
    assert not isinstance(v, str), v
    return v.passed, v.reasons, [(c.name, c.passed, c.observed) for c in v.checks]


def test_the_pages_gate_is_the_gate_of_a_fresh_comparison(
    store: Store, runs: tuple[str, str]
) -> None:
    base, feature = runs
    cold = gate(store, feature, baseline=base)  # nothing remembered yet
    contrast_memo.clear()
    shared = SharedFrames()
    comparison = compare_runs(store, [base, feature], limit=10, shared=shared)
    remembered = len(contrast_memo._memo)
    gates = gates_against(store, base, [feature], shared=shared)
    assert _verdict(gates[feature]) == _verdict(cold)
    # the gate computed no contrast the comparison had not: the default policy asks for the
    # same statistics
    assert len(contrast_memo._memo) == remembered
    got = gates[feature]
    assert isinstance(got, GateVerdict)
    assert got.items == []  # the page shows no per-item outcomes
    assert got.regressions == []
    assert cold.items
    assert got.comparison is not None
    assert cold.comparison is not None
    assert got.comparison.metrics == cold.comparison.metrics
    assert comparison.metric(PASS_METRIC) is not None


def test_remembered_contrasts_equal_computed_ones(store: Store, runs: tuple[str, str]) -> None:
    base, feature = runs
    first = compare_runs(store, [base, feature], items=False)
    again = compare_runs(store, [base, feature], items=False)  # every contrast remembered
    contrast_memo.clear()
    fresh = compare_runs(store, [base, feature], items=False)
    assert first.metrics == again.metrics == fresh.metrics
    # other settings are other contrasts
    wider = compare_runs(store, [base, feature], items=False, margin=5)
    assert wider.metrics[0].contrasts[0].margin is not None
    assert fresh.metrics[0].contrasts[0].margin is None


def test_a_changed_run_is_compared_again(store: Store, runs: tuple[str, str]) -> None:
    base, feature = runs
    before = compare_runs(store, [base, feature], items=False).metric("quality")
    for result in store.experiments.iter_results(feature):
        store.scores.upsert(
            ScoreCreate(name="quality", value=1.0, source=ScoreSource.human), result_id=result.id
        )
    after = compare_runs(store, [base, feature], items=False).metric("quality")
    assert before is not None
    assert after is not None
    assert after.means[feature] == pytest.approx(1.0)
    assert after.contrasts[0].difference != before.contrasts[0].difference


def test_summary_and_distributions_follow_a_human_score(
    store: Store, runs: tuple[str, str]
) -> None:
    base, _ = runs
    summary = store.experiments.summary(base)
    assert [s.name for s in summary.scores] == ["quality"]
    quality = store.analytics.score_distribution(base, "quality")
    assert store.experiments.summary(base) == summary  # kept
    first = next(store.experiments.iter_results(base))
    score = store.scores.upsert(
        ScoreCreate(name="helpful", value=True, passed=True, source=ScoreSource.human),
        result_id=first.id,
    )
    store.scores.upsert(
        ScoreCreate(name="quality", value=9.0, source=ScoreSource.human), result_id=first.id
    )
    changed = store.experiments.summary(base)
    assert [s.name for s in changed.scores] == ["helpful", "quality"]
    assert changed.scores[1].count == N + 1
    moved = store.analytics.score_distribution(base, "quality")
    assert moved.max == 9.0
    assert quality.max is not None
    assert quality.max < 1
    store.scores.delete(score.id)
    assert [s.name for s in store.experiments.summary(base).scores] == ["quality"]


def test_cached_summary_keeps_the_runs_own_duration(store: Store, runs: tuple[str, str]) -> None:
    base, feature = runs
    a, b = store.experiments.summary(base), store.experiments.summary(feature)
    assert a.duration_s == store.experiments.summary(base).duration_s
    assert a.total == b.total == N


def test_scored_runs_and_unscored(store: Store, runs: tuple[str, str]) -> None:
    base, feature = runs
    empty = recorded_run(store, "reuse", "unscored", [Row(scores={}) for _ in range(N)])
    assert store.scores.scored_runs([base, feature, empty]) == {base, feature}
    assert [e.id for e in unscored(store, [base, empty, feature])] == [empty]


def test_the_compare_page_shows_the_gate(
    http: TestClient, store: Store, runs: tuple[str, str]
) -> None:
    base, feature = runs
    page = http.get("/compare", params={"runs": [base, feature]})
    assert page.status_code == 200
    contrast_memo.clear()
    expected = gate(store, feature, baseline=base)
    shown = re.search(rf'id="gate-{feature}">.*?gate <span class="(pass|fail)">', page.text, re.S)
    assert shown is not None
    assert (shown.group(1) == "pass") == expected.passed
    for reason in expected.reasons:
        assert reason.replace("'", "&#39;") in page.text


def test_a_search_counts_only_a_page(store: Store, runs: tuple[str, str]) -> None:
    base, _ = runs
    few = store.experiments.result_table(base, search="question 3", limit=50)
    assert few.total == len(few.results) == 1 + 10  # "question 3" and "question 30".."39"
    many = store.experiments.result_table(base, search="question", limit=5)
    assert many.total is None
    assert many.next_cursor is not None
    everything = store.experiments.result_table(base, limit=5)
    assert everything.total == N


def test_the_run_page_says_a_search_has_more_than_a_page(http: TestClient, store: Store) -> None:
    dataset(store, "many", [{"q": f"refund {i}"} for i in range(55)])
    run_id = recorded_run(store, "many", "many", [Row(scores={"quality": 0.5})] * 55)
    many = http.get(f"/runs/{run_id}", params={"q": "refund"})
    assert many.status_code == 200
    assert "more than 50 matching results" in many.text
    few = http.get(f"/runs/{run_id}", params={"q": "refund 5"})  # "refund 5", "refund 50".."54"
    assert "6 matching results" in few.text
