"""Trends, distributions, latency and dataset health, computed in SQL on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import assay
from assay.domain import DatasetCreate, ItemCreate
from assay.errors import NotFound
from assay.ids import new_id
from assay.scoring import scorer
from assay.store import Store
from assay.store.run_frames import touch
from assay.store.tables import experiments, results, scores

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed_run(
    store: Store,
    dataset_id: str,
    item_ids: list[str],
    *,
    name: str,
    passed: list[bool | None],
    latency: list[float | None],
    cost: float = 0.01,
    minutes: int = 0,
    status: str = "completed",
    failed: frozenset[int] = frozenset(),
    config_hash: str | None = None,
    run_tag: str | None = None,
    repetitions: list[int] | None = None,
) -> str:
    """Write one finished experiment straight into the tables (``item_ids`` may repeat an
    item, with its ``repetitions``)."""
    exp_id = new_id()
    now = T0 + timedelta(minutes=minutes)
    with store.db.write() as conn:
        conn.execute(
            experiments.insert().values(
                id=exp_id,
                project_id=store.project_id,
                dataset_id=dataset_id,
                dataset_version=1,
                name=name,
                config={},
                evaluator_ids=[],
                scorers=[],
                concurrency=1,
                tags=[],
                metadata={},
                status=status,
                created_at=now,
                config_hash=config_hash,
                run_tag=run_tag,
            )
        )
        rows, score_rows = [], []
        for i, item_id in enumerate(item_ids):
            rid = new_id()
            is_failed = i in failed
            rows.append(
                {
                    "id": rid,
                    "experiment_id": exp_id,
                    "item_id": item_id,
                    "repetition": repetitions[i] if repetitions else 0,
                    "status": "failed" if is_failed else "completed",
                    "latency_ms": None if is_failed else latency[i],
                    "cost": None if is_failed else cost,
                    "passed": None if is_failed else passed[i],
                    "attempts": 1,
                }
            )
            if not is_failed and passed[i] is not None:
                base = {
                    "project_id": store.project_id,
                    "experiment_id": exp_id,
                    "result_id": rid,
                    "source": "evaluator",
                    "metadata": {},
                    "created_at": now,
                    "updated_at": now,
                }
                score_rows.append(
                    base
                    | {
                        "id": new_id(),
                        "name": "exact_match",
                        "data_type": "boolean",
                        "numeric_value": 1.0 if passed[i] else 0.0,
                        "string_value": None,
                        "passed": passed[i],
                    }
                )
                score_rows.append(
                    base
                    | {
                        "id": new_id(),
                        "name": "tone",
                        "data_type": "categorical",
                        "numeric_value": None,
                        "string_value": "polite" if i % 2 else "curt",
                        "passed": None,
                    }
                )
        conn.execute(results.insert(), rows)
        if score_rows:
            conn.execute(scores.insert(), score_rows)
    return exp_id


@pytest.fixture
def dataset(store: Store) -> tuple[str, list[str]]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input=f"q{i}") for i in range(4)])
    ds = store.datasets.get("qa")
    return ds.id, [i.id for i in store.datasets.list_items("qa").items]


def test_trend_over_runs(store: Store, dataset: tuple[str, list[str]]) -> None:
    ds, items = dataset
    seed_run(
        store,
        ds,
        items,
        name="r1",
        passed=[True, False, False, False],
        latency=[10, 20, 30, 40],
        minutes=1,
    )
    seed_run(
        store,
        ds,
        items,
        name="r2",
        passed=[True, True, True, False],
        latency=[10, 10, 10, 1000],
        minutes=2,
        failed=frozenset({3}),
    )
    points = store.analytics.trend("qa")
    assert [p.name for p in points] == ["r1", "r2"]
    r1, r2 = points
    assert (r1.total, r1.completed, r1.failed, r1.pass_rate) == (4, 4, 0, 0.25)
    assert r1.avg_latency_ms == 25
    assert r1.p95_latency_ms == pytest.approx(38.5)
    assert r1.total_cost == pytest.approx(0.04)
    assert r1.scores["exact_match"].mean == 0.25
    assert r1.scores["exact_match"].pass_rate == 0.25
    assert (r2.completed, r2.failed, r2.error_rate, r2.pass_rate) == (3, 1, 0.25, 1.0)
    assert r2.avg_cost == pytest.approx(0.01)
    assert [p.name for p in store.analytics.trend("qa", limit=1)] == ["r2"]


def test_distributions_and_latency(store: Store, dataset: tuple[str, list[str]]) -> None:
    ds, items = dataset
    exp = seed_run(
        store, ds, items, name="r", passed=[True, False, True, True], latency=[100, 200, 300, 400]
    )
    dist = store.analytics.score_distribution(exp, "exact_match", bins=2)
    assert (dist.count, dist.min, dist.max, dist.mean) == (4, 0.0, 1.0, 0.75)
    assert [(b.lower, b.upper, b.count) for b in dist.bins] == [(0.0, 0.5, 1), (0.5, 1.0, 3)]
    tone = store.analytics.score_distribution(exp, "tone")
    assert tone.categories == {"curt": 2, "polite": 2}
    assert tone.bins == []
    lat = store.analytics.latency_distribution(exp, bins=3)
    # each value in the bin its lower edge opens; the highest in the last
    assert [(b.lower, b.upper, b.count) for b in lat.bins] == [
        (100, 200, 1),
        (200, 300, 1),
        (300, 400, 2),
    ]
    stats = store.analytics.latency(exp)
    assert (stats.count, stats.mean, stats.p50, stats.max) == (4, 250, 250, 400)
    assert stats.p90 == pytest.approx(370)
    with pytest.raises(NotFound, match="no score 'missing'"):
        store.analytics.score_distribution(exp, "missing")
    # a result that failed after 900 ms is not drawn among completed results' latency
    with store.db.write() as conn:
        conn.execute(
            results.update()
            .where(results.c.experiment_id == exp, results.c.latency_ms == 400)
            .values(status="failed", latency_ms=900)
        )
        touch(conn, [exp])
    lat = store.analytics.latency_distribution(exp, bins=3)
    assert (lat.count, lat.max, sum(b.count for b in lat.bins)) == (3, 300, 3)


def test_dataset_health(store: Store, dataset: tuple[str, list[str]]) -> None:
    ds, items = dataset
    for minutes, (name, third) in enumerate((("a", True), ("b", False), ("c", True)), 1):
        seed_run(
            store,
            ds,
            items,
            name=name,
            passed=[True, False, third, None],
            latency=[1] * 4,
            minutes=minutes,
            config_hash="bot-v1",  # three runs of one configuration
        )
    health = store.analytics.dataset_health("qa")
    assert (health.experiments, health.items_seen) == (3, 3)
    kinds = {h.item_id: (h.kind, h.passes, h.fails) for h in health.items}
    assert kinds == {
        items[0]: ("always_pass", 3, 0),
        items[1]: ("always_fail", 0, 3),
        items[2]: ("flaky", 2, 1),
    }
    assert health.items[0].kind == "flaky"
    assert store.analytics.dataset_health("qa", min_runs=4).items == []


@scorer
def echoed(input: str, output: str) -> bool:
    return output == input


def health_of(store: Store) -> dict[str, tuple[str, int, int]]:
    return {
        h.item_id: (h.kind, h.passes, h.fails) for h in store.analytics.dataset_health("qa").items
    }


def test_different_systems_disagreeing_is_not_flakiness(
    store: Store, dataset: tuple[str, list[str]]
) -> None:
    """Two bots (their own config hashes) differ on an item: a real difference, not a flake."""
    ds, items = dataset
    two = items[:2]
    seed_run(store, ds, two, name="bot a", passed=[True, True], latency=[1, 1], config_hash="a")
    seed_run(store, ds, two, name="bot b", passed=[False, True], latency=[1, 1], config_hash="b")
    seed_run(store, ds, two, name="no hash", passed=[False, True], latency=[1, 1], minutes=2)
    health = store.analytics.dataset_health("qa")
    assert (health.flaky, health.items_seen) == (0, 2)
    assert health_of(store) == {items[1]: ("always_pass", 3, 0)}  # items[0] is not classified


def test_trials_of_one_run_disagreeing_are_flaky(
    store: Store, dataset: tuple[str, list[str]]
) -> None:
    ds, items = dataset
    seed_run(
        store,
        ds,
        [items[0]] * 3 + [items[1]] * 3,
        name="three trials",
        passed=[True, False, True, False, False, False],
        latency=[1] * 6,
        repetitions=[0, 1, 2] * 2,
    )
    assert health_of(store) == {items[0]: ("flaky", 2, 1), items[1]: ("always_fail", 0, 3)}


@pytest.mark.parametrize("same", [{"config_hash": "bot-v1"}, {"run_tag": "main"}])
def test_runs_of_one_configuration_disagreeing_are_flaky(
    store: Store, dataset: tuple[str, list[str]], same: dict[str, str]
) -> None:
    ds, items = dataset
    one = items[:1]
    seed_run(store, ds, one, name="first", passed=[True], latency=[1], **same)
    seed_run(store, ds, one, name="again", passed=[False], latency=[1], minutes=1, **same)
    seed_run(store, ds, one, name="other bot", passed=[False], latency=[1], minutes=2)
    assert health_of(store) == {items[0]: ("flaky", 1, 2)}
    assert store.analytics.dataset_health("qa").flaky == 1


def test_health_of_runs_made_by_evaluate(store: Store, dataset: tuple[str, list[str]]) -> None:
    """evaluate() records each target's config hash: two bots are two configurations, and
    the same bot run twice is one."""
    calls = {"n": 0}

    def right(q: str) -> str:
        return q

    def wrong_on_q0(q: str) -> str:
        return "nope" if q == "q0" else q

    def flips(q: str) -> str:  # right on its first run, wrong on q0 afterwards
        calls["n"] += 1
        return "nope" if q == "q0" and calls["n"] > 4 else q

    for task in (right, wrong_on_q0):
        assay.evaluate("qa", task, [echoed()], store=store, quiet=True)
    assert store.analytics.dataset_health("qa").flaky == 0
    for _ in range(2):
        assay.evaluate("qa", flips, [echoed()], store=store, quiet=True)
    health = store.analytics.dataset_health("qa")
    assert [h.kind for h in health.items if h.item_id == dataset[1][0]] == ["flaky"]
    assert health.flaky == 1


def test_configurations_join_runs_sharing_a_hash_or_a_tag() -> None:
    from types import SimpleNamespace as Run

    from assay.store.analytics import configurations

    runs = [
        Run(id="r1", config_hash="h1", run_tag=None),
        Run(id="r2", config_hash="h1", run_tag="main"),
        Run(id="r3", config_hash="h2", run_tag="main"),  # joined to r1 through r2
        Run(id="r4", config_hash="h3", run_tag=None),
        Run(id="r5", config_hash=None, run_tag=None),
        Run(id="r6", config_hash=None, run_tag=None),
    ]
    group = configurations(runs)
    assert group["r1"] == group["r2"] == group["r3"]
    assert len({group["r1"], group["r4"], group["r5"], group["r6"]}) == 4


def test_unknown_dataset_or_experiment(store: Store) -> None:
    with pytest.raises(NotFound):
        store.analytics.trend("nope")
    with pytest.raises(NotFound):
        store.analytics.latency("nope")
