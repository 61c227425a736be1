"""A fresh run's page aggregates are counted as its writer writes, and equal what SQL computes
from the stored rows (runs whose writer did not hold them whole: ``test_snapshot_spool.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import assay
from assay.domain import DatasetCreate, ItemCreate, ScoreCreate
from assay.engine import snapshot
from assay.scorers import exact_match, scorer
from assay.store import Store
from assay.targets import TargetOutput
from tests.integration.aggregate_support import stored_aggregates_are_computed


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runs whose aggregates were computed in SQL rather than counted by their writer."""
    seen: list[str] = []
    in_sql = snapshot.store_aggregates

    def spy(store: Store, experiment_id: str) -> None:
        seen.append(experiment_id)
        in_sql(store, experiment_id)

    monkeypatch.setattr(snapshot, "store_aggregates", spy)
    return seen


def test_the_counted_aggregates_are_the_computed_ones(store: Store, computed: list[str]) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    items = [ItemCreate(input={"q": f"q{i}"}, expected_output=f"q{i}") for i in range(700)]
    store.datasets.add_items("qa", items)

    async def answer(x: dict[str, str]) -> TargetOutput:
        k = int(x["q"][1:])
        await asyncio.sleep((k * 7919 % 7) / 1000)  # results finish out of plan order
        if k % 53 == 5:
            raise RuntimeError(f"no answer for {x['q']}")
        return TargetOutput(
            output=x["q"] if k % 4 else "?",
            cost=k / 1000 + 0.1 if k % 3 else None,
            tokens_in=k % 11 or None,
            tokens_out=k % 5,
        )

    @scorer
    def length(output: Any) -> ScoreCreate:
        if output == "?":
            raise ValueError("nothing to measure")  # a score without a value
        return ScoreCreate(
            name="length", value=len(output) / 3, cost=len(output) / 7, latency_ms=1.0 / 3
        )

    @scorer
    def mood(output: Any) -> str:
        return "sure" if output != "?" else "unsure"

    run = assay.evaluate(
        "qa",
        answer,
        [exact_match(), length(), mood()],
        trials=2,
        concurrency=30,
        max_retries=0,
        store=store,
        quiet=True,
    )
    assert run.summary.failed == 2 * 14
    assert computed == []  # counted by the writer
    stored_aggregates_are_computed(store, run.id)
    summary = store.experiments.summary(run.id)  # the page reads the stored values
    assert [s.name for s in summary.scores] == ["exact_match", "length", "mood"]
    assert summary.tokens_in > 0
    assert summary.judge_cost > 0
    assert summary.scorer_errors > 0
    unsure = 2 * sum(1 for k in range(700) if k % 4 == 0 and k % 53 != 5)
    assert store.analytics.score_distribution(run.id, "mood").categories == {
        "sure": summary.completed - unsure,
        "unsure": unsure,
    }


def test_a_run_with_one_latency_and_no_scores(store: Store, computed: list[str]) -> None:
    run = assay.evaluate([{"input": "a"}], lambda x: x, store=store, quiet=True)
    assert computed == []
    stored_aggregates_are_computed(store, run.id)
