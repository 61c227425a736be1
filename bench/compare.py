"""Comparison, gate and trend speed on large synthetic runs.

Two runs of 100,000 items (a pass/fail scorer and a continuous numeric scorer; about 10 % of
outputs differ) are compared end to end; then a trend is computed over 100 runs of 10,000
items. Prints the figures and writes ``bench/results/compare.json``.

    PYTHONPATH=src python bench/compare.py [--items 100000] [--runs 100] [--run-items 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from assay.analysis import (
    RunFrame,
    ScoreColumn,
    bootstrap_ci,
    compare_runs,
    evaluate_gate,
    render_junit,
    render_markdown,
    trend,
)
from assay.analysis.frame import COMPLETED, FAILED
from assay.domain import Result, ResultStatus, Score, ScoreDataType, ScoreSource

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


def synthetic_frame(run_id: str, n: int, seed: int) -> RunFrame:
    """A run built straight from columns, as storage would fill it from SQL."""
    rng = np.random.default_rng(seed)
    passed = (rng.random(n) < 0.7 + 0.002 * (seed % 50)).astype(np.float64)
    failed = rng.random(n) < 0.01
    status = np.where(failed, FAILED, COMPLETED).astype(np.int8)
    passed[failed] = np.nan
    return RunFrame(
        run_id=run_id,
        name=run_id,
        item_ids=np.array([f"item-{k:06d}" for k in range(n)], dtype=np.str_),
        repetition=np.zeros(n, dtype=np.int64),
        status=status,
        passed=passed,
        latency_ms=rng.gamma(2.0, 400.0, n),
        cost=np.full(n, 0.0004),
        judge_cost=np.full(n, 0.0001),
        scores={
            "exact_match": ScoreColumn(passed.copy(), passed.copy()),
            "similarity": ScoreColumn(rng.random(n), np.full(n, np.nan)),
        },
    )


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

    runs = [synthetic_frame(f"run-{k:03d}", args.run_items, seed=k) for k in range(args.runs)]
    series, t = timed(lambda: trend(runs))
    figures["trend_s"] = t
    figures["trend_points"] = len(series)

    figures["load_average_1m"] = os.getloadavg()[0]  # the machine is shared: context for timings
    figures["python"] = platform.python_version()
    figures["numpy"] = np.__version__
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in figures.items():
        if key.endswith("_s"):
            print(f"{key:34s} {value:8.3f} s")
    for name, v in figures["verdicts"].items():
        print(f"{name:34s} {v['verdict']} ({v['test']}, p={v['p_value']:.3g})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
