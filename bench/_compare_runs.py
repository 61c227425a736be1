"""The runs ``bench/compare.py`` compares: synthetic results in memory, two runs executed by the
engine, and runs written through the bulk recording path a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

import assay
from assay.domain import (
    DatasetCreate,
    ExperimentCreate,
    ExperimentStatus,
    ItemCreate,
    Result,
    ResultStatus,
    Score,
    ScoreDataType,
    ScoreSource,
)
from assay.scorers import exact_match, similarity
from assay.store import Store
from assay.store.recording import Rows

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _score(name: str, value: float, passed: bool | None) -> Score:
    return Score.model_construct(
        id="s",
        name=name,
        data_type=ScoreDataType.boolean if passed is not None else ScoreDataType.numeric,
        numeric_value=value,
        string_value=None,
        passed=passed,
        reason=None,
        source=ScoreSource.evaluator,
        result_id=None,
        trace_id=None,
        evaluator_id=None,
        evaluator_version=None,
        cost=0.0001,
        tokens_in=None,
        tokens_out=None,
        latency_ms=None,
        metadata={},
        created_at=NOW,
    )


def synthetic_results(run_id: str, n: int, p_pass: float, shift: float, seed: int) -> list[Result]:
    rng = np.random.default_rng(seed)
    difficulty = np.random.default_rng(0).random(n)  # shared by both runs: items differ
    passed = rng.random(n) < (p_pass + 0.3 * (difficulty - 0.5))
    similarity = np.clip(difficulty + shift + rng.normal(0, 0.1, n), 0, 1)
    latency = rng.gamma(2.0, 400.0, n)
    failed = rng.random(n) < 0.01
    variant = rng.random(n) < 0.1
    out: list[Result] = []
    for k in range(n):
        ok = bool(passed[k]) and not failed[k]
        answer = f"answer {k % 97} is {'forty two' if variant[k] else 'forty-two'} for case {k}"
        out.append(
            Result.model_construct(
                id=f"{run_id}-{k}",
                experiment_id=run_id,
                item_id=f"item-{k:06d}",
                repetition=0,
                status=ResultStatus.failed if failed[k] else ResultStatus.completed,
                input={"k": k},
                expected_output=None,
                output=None if failed[k] else answer,
                error="timeout" if failed[k] else None,
                latency_ms=float(latency[k]),
                tokens_in=100,
                tokens_out=20,
                cost=0.0004,
                attempts=1,
                passed=None if failed[k] else ok,
                trace_id=None,
                observation_id=None,
                started_at=None,
                finished_at=None,
                scores=[]
                if failed[k]
                else [
                    _score("exact_match", float(ok), ok),
                    _score("similarity", float(similarity[k]), None),
                ],
            )
        )
    return out


def engine_runs(store: Store, n: int) -> tuple[str, str]:
    """Two runs of ``n`` items executed by the engine; the second is slightly better."""
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench",
        (ItemCreate(input={"k": k}, expected_output=f"answer {k} is forty-two") for k in range(n)),
    )
    difficulty = np.random.default_rng(0).random(n)
    ids = []
    for name, p_pass, seed in (("main", 0.70, 1), ("feature", 0.71, 2)):
        ok = np.random.default_rng(seed).random(n) < p_pass + 0.3 * (difficulty - 0.5)
        flags = ok.tolist()

        def task(x: dict[str, int], flags: list[bool] = flags) -> str:
            k = x["k"]
            return f"answer {k} is forty-two" if flags[k] else f"answer {k} is forty two"

        result = assay.evaluate(
            "bench",
            task,
            [exact_match(), similarity()],
            name=name,
            run_tag=name,
            store=store,
            concurrency=50,
        )
        ids.append(result.id)
    return ids[0], ids[1]


def recorded_runs(store: Store, runs: int, items: int) -> None:
    """``runs`` finished experiments of ``items`` results with one score each, written
    through the engine's bulk recording path (plan, record rows, finish)."""
    store.datasets.create(DatasetCreate(name="trend"))
    store.datasets.add_items(
        "trend", (ItemCreate(input={"k": k}, expected_output="yes") for k in range(items))
    )
    now = datetime.now(UTC)
    for r in range(runs):
        rng = np.random.default_rng(r)
        planned = store.experiments.prepare(
            ExperimentCreate(
                name=f"run-{r:03d}", dataset="trend", scorers=[{"name": "exact_match"}]
            )
        )
        planned.commit()
        passed = (rng.random(items) < 0.6 + 0.003 * r).tolist()
        latency = rng.gamma(2.0, 400.0, items).tolist()
        result_rows = [
            _result_row(w.result_id, "yes" if ok else "no", lat, ok, now)
            for w, ok, lat in zip(planned.work, passed, latency, strict=True)
        ]
        score_rows = [
            _score_row(w.result_id, "exact_match", "boolean", float(ok), ok)
            for w, ok in zip(planned.work, passed, strict=True)
        ]
        store.experiments.record_rows(planned.experiment.id, Rows(result_rows, score_rows))
        store.experiments.finish(planned.experiment.id, ExperimentStatus.completed, None)


def _result_row(
    result_id: str, output: str, latency: float, ok: bool, now: datetime
) -> tuple[Any, ...]:
    """A completed result as the bulk recording path takes it (``Rows.results``)."""
    return ("completed", output, None, latency, 100, 20, 0.0004, 1, ok, now, now, result_id, None)


def _score_row(
    result_id: str, name: str, kind: str, value: float, passed: bool | None
) -> tuple[Any, ...]:
    """An evaluator's score as the bulk recording path takes it (``Rows.scores``)."""
    none6 = (None,) * 6
    return (result_id, name, kind, value, None, passed, None, "evaluator", *none6, {})


def rows_run(store: Store, name: str, p_pass: float, seed: int, page: int = 10_000) -> str:
    """A run over the whole "bench" dataset written through the bulk recording path a page
    at a time (as the engine's writer does), finished, with the snapshot a run stores as it
    ends: nothing per item is held beyond one page."""
    planned = store.experiments.prepare(
        ExperimentCreate(
            name=name,
            dataset="bench",
            run_tag=name,
            scorers=[{"name": "exact_match"}, {"name": "similarity"}],
        ),
        stream=True,
    )
    planned.commit()
    run_id = planned.experiment.id
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    results: list[tuple[Any, ...]] = []
    score_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        store.experiments.record_rows(run_id, Rows(results, score_rows))
        results.clear()
        score_rows.clear()

    for k, work in enumerate(planned.work):
        ok = bool(rng.random() < p_pass + 0.3 * (((k * 7919) % 1000) / 1000 - 0.5))
        output = f"answer {k} is forty-two" if ok else f"answer {k} is forty two"
        latency = float(rng.gamma(2.0, 400.0))
        results.append(_result_row(work.result_id, output, latency, ok, now))
        for score, value, passed, kind in (
            ("exact_match", float(ok), ok, "boolean"),
            ("similarity", 1.0 if ok else 0.97, None, "numeric"),
        ):
            score_rows.append(_score_row(work.result_id, score, kind, value, passed))
        if len(results) >= page:
            flush()
    if results:
        flush()
    store.experiments.finish(run_id, ExperimentStatus.completed, None)
    from assay.engine.snapshot import store_snapshot

    store_snapshot(store, run_id)
    return run_id
