"""A fresh run's page aggregates are counted as its writer writes; they equal what SQL computes
from the stored rows, and SQL computes them whenever the writer's rows are not the run whole."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

import assay
from assay.domain import DatasetCreate, ExperimentSummary, Histogram, ItemCreate, ScoreCreate
from assay.engine import snapshot
from assay.scorers import exact_match, scorer
from assay.store import Store, run_aggregates, run_frames
from assay.store.analytics import LATENCY_BINS, SCORE_BINS
from assay.store.summary import _summarize
from assay.targets import TargetOutput


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


def _same(counted: Any, computed: Any, where: str = "") -> None:
    """Equal, floats to within rounding (exact sums against SQL's in scan order)."""
    if isinstance(computed, float) and isinstance(counted, float):
        assert math.isclose(counted, computed, rel_tol=1e-12, abs_tol=1e-12), where
    elif isinstance(computed, dict):
        assert isinstance(counted, dict), where
        assert counted.keys() == computed.keys(), where
        for key in computed:
            _same(counted[key], computed[key], f"{where}.{key}")
    elif isinstance(computed, list):
        assert isinstance(counted, list), where
        assert len(counted) == len(computed), where
        for k, (a, b) in enumerate(zip(counted, computed, strict=True)):
            _same(a, b, f"{where}[{k}]")
    else:
        assert counted == computed, where


def _stored(store: Store, experiment_id: str, what: Any) -> Any:
    with store.db.read() as conn:
        revision = run_frames.revision(conn, experiment_id)
        text = run_aggregates.load(conn, experiment_id, run_aggregates.name_of(what), revision)
    assert text is not None, f"{what} was not stored at revision {revision}"
    return json.loads(text)


def _in_sql(store: Store, experiment_id: str) -> dict[Any, Any]:
    """Every aggregate as SQL computes it from the stored rows, under its cache key."""
    analytics = store.analytics
    with store.db.read() as conn:
        summary = _summarize(conn, experiment_id)
        out: dict[Any, Any] = {
            "summary": summary,
            ("latency_distribution", LATENCY_BINS): analytics._latency_histogram(
                conn, experiment_id, LATENCY_BINS
            ),
        }
        for s in summary.scores:
            out[("score_distribution", s.name, SCORE_BINS)] = analytics._score_histogram(
                conn, experiment_id, s.name, SCORE_BINS
            )
    return out


def _stored_are_computed(store: Store, experiment_id: str) -> None:
    for what, model in _in_sql(store, experiment_id).items():
        assert isinstance(model, ExperimentSummary | Histogram)
        _same(_stored(store, experiment_id, what), model.model_dump(mode="json"), str(what))


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
    _stored_are_computed(store, run.id)
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
    _stored_are_computed(store, run.id)


def test_a_run_the_writer_did_not_hold_whole_is_computed(store: Store, computed: list[str]) -> None:
    def pricey(x: Any) -> TargetOutput:
        return TargetOutput(output="x", cost=1.0)

    data = [{"input": str(i)} for i in range(50)]
    run = assay.evaluate(data, pricey, concurrency=1, max_cost=3.0, store=store, quiet=True)
    assert run.summary.cancelled > 0  # rows the writer never wrote, added as the run ended
    assert computed == [run.id]
    _stored_are_computed(store, run.id)
