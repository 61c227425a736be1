"""Comparison, gate and trend speed on large runs, in memory and from SQLite.

In memory: two runs of 100,000 items (a pass/fail scorer and a continuous numeric scorer;
about 10 % of outputs differ) are compared from :class:`RunFrame` columns.

From SQLite: two 100,000-item runs are executed by the engine (``assay.evaluate`` with a
function target, ``exact_match`` and ``similarity``) into a fresh store; then
``compare_experiments`` and ``gate_experiment`` run end to end: once without the runs'
stored snapshots (every result and score row read from SQL), then as usual (each run's
snapshot, written when it ended, read back), and ``store.analytics.trend`` runs over 100 runs
of 10,000 items written through the engine's bulk recording path. Prints the figures and
writes ``bench/results/compare.json``.

    PYTHONPATH=src python bench/compare.py [--items 100000] [--runs 100] [--run-items 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete

import assay
from assay.analysis import (
    RunFrame,
    bootstrap_ci,
    compare_experiments,
    compare_runs,
    evaluate_gate,
    gate_experiment,
    load_run,
    render_junit,
    render_markdown,
    store_frame,
)
from assay.config import Settings
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
from assay.service.compare import compare as api_compare
from assay.store import Store, open_store
from assay.store.recording import Rows
from assay.store.tables import run_frames

T = TypeVar("T")
NOW = datetime(2026, 11, 22, tzinfo=UTC)
OUT = Path(__file__).parent / "results" / "compare.json"


def timed(fn: Callable[[], T], repeat: int = 3) -> tuple[T, float]:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    value: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return value, best


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


def _engine_runs(store: Store, n: int) -> tuple[str, str]:
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


def _recorded_runs(store: Store, runs: int, items: int) -> None:
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
            (
                "completed",
                "yes" if ok else "no",
                None,
                lat,
                100,
                20,
                0.0004,
                1,
                ok,
                now,
                now,
                w.result_id,
                None,
            )
            for w, ok, lat in zip(planned.work, passed, latency, strict=True)
        ]
        score_rows = [
            (
                w.result_id,
                "exact_match",
                "boolean",
                float(ok),
                None,
                ok,
                None,
                "evaluator",
                None,
                None,
                None,
                None,
                None,
                None,
                {},
            )
            for w, ok in zip(planned.work, passed, strict=True)
        ]
        store.experiments.record_rows(planned.experiment.id, Rows(result_rows, score_rows))
        store.experiments.finish(planned.experiment.id, ExperimentStatus.completed, None)


def _drop_snapshots(store: Store) -> None:
    with store.db.write() as conn:
        conn.execute(delete(run_frames))


def sqlite_figures(n: int, runs: int, run_items: int) -> dict[str, Any]:
    """The comparison, gate and trend path from a fresh SQLite store."""
    figures: dict[str, Any] = {}
    home = Path(tempfile.mkdtemp(prefix="assay-bench-compare-"))
    store = open_store(Settings(home=home))
    try:
        start = time.perf_counter()
        base, cand = _engine_runs(store, n)
        figures["setup_two_engine_runs_s"] = time.perf_counter() - start
        # A run stores its analysis snapshot as it ends; runs without one (uploaded runs,
        # or runs changed since by human scores) are read from their result and score rows.
        _drop_snapshots(store)
        _, t = timed(lambda: store_frame(store, cand), repeat=1)
        figures["store_snapshot_at_run_end_s"] = t
        _drop_snapshots(store)
        _, t = timed(lambda: compare_experiments(store, [base, cand], items=False), repeat=1)
        figures["compare_experiments_without_snapshots_s"] = t
        stats, t = timed(lambda: compare_experiments(store, [base, cand], items=False))
        figures["compare_experiments_s"] = t
        _, t = timed(lambda: load_run(store, cand, outputs=False))
        figures["load_run_s"] = t
        _, t = timed(lambda: load_run(store, cand))
        figures["load_run_with_outputs_s"] = t
        page, t = timed(
            lambda: compare_experiments(store, [base, cand], only="regressions", limit=50)
        )
        figures["compare_experiments_first_page_of_regressions_s"] = t
        figures["regressions"] = page.items_total
        _, t = timed(lambda: api_compare(store, [base, cand], offset=0, limit=100))
        figures["api_compare_first_page_of_100_s"] = t
        verdict, t = timed(lambda: gate_experiment(store, cand, baseline_tag="main"))
        figures["gate_experiment_s"] = t
        figures["gate_passed"] = verdict.passed
        figures["verdicts"] = {m.name: m.contrasts[0].verdict.value for m in stats.metrics}
        start = time.perf_counter()
        _recorded_runs(store, runs, run_items)
        figures["setup_trend_runs_s"] = time.perf_counter() - start
        series, t = timed(lambda: store.analytics.trend("trend", limit=runs))
        figures["trend_s"] = t
        figures["trend_points"] = len(series)
        health, t = timed(lambda: store.analytics.dataset_health("trend", last=runs), repeat=1)
        figures["dataset_health_s"] = t
        figures["flaky_items"] = health.flaky
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--run-items", type=int, default=10_000)
    args = parser.parse_args()
    n = args.items
    figures: dict[str, Any] = {"items": n, "trend_runs": args.runs, "trend_items": args.run_items}

    rng = np.random.default_rng(1)
    _, t = timed(lambda: bootstrap_ci(rng.normal(0, 1, n), resamples=2000))
    figures["bootstrap_continuous_s"] = t
    _, t = timed(lambda: bootstrap_ci(rng.integers(-1, 2, n).astype(float), resamples=2000))
    figures["bootstrap_pass_fail_s"] = t

    base_rows = synthetic_results("base", n, 0.70, 0.0, seed=1)
    cand_rows = synthetic_results("cand", n, 0.71, 0.005, seed=2)
    (base, cand), t = timed(
        lambda: (
            RunFrame.from_results(base_rows, run_id="base", name="main"),
            RunFrame.from_results(cand_rows, run_id="cand", name="feature"),
        ),
        repeat=1,
    )
    figures["frames_from_results_s"] = t
    stats, t = timed(lambda: compare_runs([base, cand], items=False))
    figures["compare_statistics_s"] = t
    page, t = timed(lambda: compare_runs([base, cand], only="regressions", limit=50))
    figures["compare_with_first_page_of_regressions_s"] = t
    figures["regressions"] = page.items_total
    full, t = timed(lambda: compare_runs([base, cand]), repeat=1)
    figures["compare_with_items_and_diffs_s"] = t
    figures["compare_item_rows"] = len(full.items)
    figures["compare_rows_with_diffs"] = sum(1 for r in full.items if r.diffs)
    del full
    verdict, t = timed(lambda: evaluate_gate(cand, base), repeat=1)
    figures["gate_s"] = t
    _, t = timed(lambda: (render_junit(verdict), render_markdown(verdict)), repeat=1)
    figures["render_junit_and_markdown_s"] = t
    figures["verdicts"] = {
        m.name: {
            "difference": m.contrasts[0].difference,
            "ci": [m.contrasts[0].ci_low, m.contrasts[0].ci_high],
            "p_value": m.contrasts[0].p_value,
            "test": m.contrasts[0].test,
            "verdict": m.contrasts[0].verdict.value,
        }
        for m in stats.metrics
    }

    figures["sqlite"] = sqlite_figures(n, args.runs, args.run_items)

    figures["load_average_1m"] = os.getloadavg()[0]  # the machine is shared: context for timings
    figures["python"] = platform.python_version()
    figures["numpy"] = np.__version__
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in [*figures.items(), *figures["sqlite"].items()]:
        if key.endswith("_s"):
            print(f"{key:40s} {value:8.3f} s")
    for name, v in figures["verdicts"].items():
        print(f"{name:40s} {v['verdict']} ({v['test']}, p={v['p_value']:.3g})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
