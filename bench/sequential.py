"""How many items a sequential run needs before it stops, with the engine's own stopping rule.

Simulated paired pass/fail streams (a shared item difficulty, redrawn for the new system one
item in three) are fed, one result at a time, to :class:`assay.engine.sequential.Watch`, the
rule the runner checks after every finished result. For each true difference it prints the
share of streams that stopped, the verdicts, and the mean / median / 90th percentile of the
items paired at the stop, beside the items a fixed-size paired test with 80 % power needs
(:func:`assay.analysis.planning.items_needed`, from the same streams' variance).

    PYTHONPATH=src python bench/sequential.py [--streams 200] [--items 3000]

Writes bench/results/sequential.json. The figures are counts, not timings.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from assay.analysis.planning import items_needed
from assay.engine.sequential import Watch, draw_order
from assay.store import Completion

OUT = Path(__file__).resolve().parent / "results" / "sequential.json"
CASES = [(0.6, 0.6, 0.0), (0.6, 0.65, 0.0), (0.6, 0.7, 0.0), (0.6, 0.8, 0.0), (0.7, 0.7, 0.05)]


def stream(rng: np.random.Generator, p_a: float, p_b: float, margin: float, n: int) -> Watch:
    difficulty = rng.random(n)
    new = np.where(rng.random(n) < 1 / 3, rng.random(n), difficulty)
    ids = [f"i{k:06d}" for k in range(n)]
    baseline = {ids[k]: float(difficulty[k] < p_a) for k in range(n)}
    spec = {"baseline": "b", "metric": "pass_rate", "margin": margin, "alpha": 0.05, "seed": 1}
    order = draw_order(ids, 1)
    watch = Watch(spec, baseline, order, dict.fromkeys(ids, 1), {i: i for i in ids})
    index = {item: k for k, item in enumerate(ids)}
    for item in order:
        if watch.add(Completion(item, "completed", passed=bool(new[index[item]] < p_b))):
            break
    return watch


def variance(rng: np.random.Generator, p_a: float, p_b: float, n: int = 200_000) -> float:
    difficulty = rng.random(n)
    new = np.where(rng.random(n) < 1 / 3, rng.random(n), difficulty)
    return float(np.var((new < p_b).astype(float) - (difficulty < p_a).astype(float)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--items", type=int, default=3000)
    args = parser.parse_args()
    rng = np.random.default_rng(2021)
    rows: list[dict[str, Any]] = []
    print(f"{'base':>5} {'new':>5} {'margin':>6} {'stopped':>8} {'mean n':>7} {'median':>7} "
          f"{'p90':>6} {'fixed n':>8}  verdicts")  # fmt: skip
    for p_a, p_b, margin in CASES:
        watches = [stream(rng, p_a, p_b, margin, args.items) for _ in range(args.streams)]
        stopped = np.array([w.n for w in watches if w.settled], dtype=float)
        verdicts = Counter(w.verdict or "open" for w in watches)
        fixed = items_needed(variance(rng, p_a, p_b), p_b - p_a) if p_b != p_a else None
        row = {
            "baseline_pass_rate": p_a,
            "new_pass_rate": p_b,
            "margin": margin,
            "streams": args.streams,
            "max_items": args.items,
            "stopped_share": len(stopped) / args.streams,
            "mean_n": float(stopped.mean()) if stopped.size else None,
            "median_n": float(np.median(stopped)) if stopped.size else None,
            "p90_n": float(np.percentile(stopped, 90)) if stopped.size else None,
            "fixed_sample_n_80_power": fixed,
            "verdicts": dict(verdicts),
        }
        rows.append(row)

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.0f}"

        print(
            f"{p_a:>5} {p_b:>5} {margin:>6} {row['stopped_share']:>8.2f} {fmt(row['mean_n']):>7} "
            f"{fmt(row['median_n']):>7} {fmt(row['p90_n']):>6} {fmt(fixed):>8}  {dict(verdicts)}"
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"cases": rows}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
