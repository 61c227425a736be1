"""A stopped run's page aggregates are stored with it and served while its data is unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import assay
from assay.domain import DatasetCreate, ItemCreate, ScoreCreate, ScoreSource
from assay.scorers import exact_match
from assay.store import Store, analytics, run_cache, summary
from assay.store.run_aggregates import store_aggregates, store_counted
from assay.store.tables import experiments, run_aggregates


def _run(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"q{i}") for i in range(9)]
    )
    answer = {f"q{i}": f"q{i}" if i % 3 else "wrong" for i in range(9)}
    return assay.evaluate(
        "qa", lambda x: answer[x["q"]], [exact_match()], store=store, quiet=True
    ).id


def _stored(store: Store, run_id: str) -> dict[str, int]:
    with store.db.read() as conn:
        rows = conn.execute(
            select(run_aggregates.c.name, run_aggregates.c.data_revision).where(
                run_aggregates.c.experiment_id == run_id
            )
        )
        return {str(name): int(revision) for name, revision in rows.tuples()}


def _no_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> None:
        raise AssertionError("computed instead of read from the store")

    monkeypatch.setattr(summary, "_summarize", fail)
    monkeypatch.setattr(analytics.Analytics, "_histogram", fail)


def test_a_run_stores_its_page_aggregates_when_it_ends(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _run(store)
    stored = _stored(store, run_id)
    assert set(stored) == {
        "summary",
        '["latency_distribution", 20]',
        '["score_distribution", "exact_match", 10]',
    }
    before = store.experiments.summary(run_id)
    latency = store.analytics.latency_distribution(run_id)
    scores = store.analytics.score_distribution(run_id, "exact_match")
    run_cache.clear()  # as after a restart: nothing in memory
    _no_computing(monkeypatch)
    assert store.experiments.summary(run_id) == before
    assert store.analytics.latency_distribution(run_id) == latency
    assert store.analytics.score_distribution(run_id, "exact_match") == scores
    assert (before.passed, before.judged) == (6, 9)


def test_a_stored_aggregate_is_not_served_once_the_run_changed(store: Store) -> None:
    run_id = _run(store)
    revision = _stored(store, run_id)["summary"]
    first = next(iter(store.experiments.iter_results(run_id)))
    store.scores.upsert(
        ScoreCreate(name="helpful", value=1.0, source=ScoreSource.human), result_id=first.id
    )
    run_cache.clear()
    after = store.experiments.summary(run_id)
    assert [s.name for s in after.scores] == ["exact_match", "helpful"]
    assert _stored(store, run_id)["summary"] == revision  # nothing written on a page view
    store_aggregates(store, run_id)  # what re-scoring does when it ends
    assert _stored(store, run_id)["summary"] > revision
    assert '["score_distribution", "helpful", 10]' in _stored(store, run_id)


def test_a_running_run_stores_nothing(store: Store) -> None:
    run_id = _run(store)
    with store.db.write() as conn:
        conn.execute(run_aggregates.delete())
        conn.execute(
            experiments.update().where(experiments.c.id == run_id).values(status="running")
        )
    store_aggregates(store, run_id)
    assert _stored(store, run_id) == {}


def test_counted_aggregates_are_stored_only_at_the_runs_revision(store: Store) -> None:
    run_id = _run(store)
    current = _stored(store, run_id)["summary"]
    made = store.experiments.summary(run_id)
    values = [("summary", made), (("extra", 1), made), (("extra", 2), made)]
    store_counted(store, run_id, current - 1, values)  # computed before a change: dropped
    assert set(_stored(store, run_id)) == {
        "summary",
        '["latency_distribution", 20]',
        '["score_distribution", "exact_match", 10]',
    }
    store_counted(store, run_id, current, values)  # every row, the stored one replaced
    assert _stored(store, run_id) == {
        "summary": current,
        '["latency_distribution", 20]': current,
        '["score_distribution", "exact_match", 10]': current,
        '["extra", 1]': current,
        '["extra", 2]': current,
    }
