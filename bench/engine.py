"""Engine throughput benchmark: items/s end to end, persisted to SQLite.

Workloads (each in its own process, so peak RSS is its own):

- ``zero``: N items (default 20,000), a zero-latency sync function target, the ``exact_match``
  scorer; timed from ``plan`` (pin version, select items, write one result row per item) to
  every result and score committed and the experiment finished.
  Each result is recorded with its trace; the same workload runs again with traces off.
- ``sleep``: a target that awaits 50 ms, at concurrency 100 and 1,000, no scorer; reported as
  achieved items/s over the ideal (concurrency / 0.05 s).

    python bench/engine.py                 # all workloads, writes bench/results/engine.json
    python bench/engine.py --items 5000    # smaller
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "engine.json"


def _prepare(n: int) -> Any:
    import importlib

    from assay.config import Settings
    from assay.domain import DatasetCreate, ItemCreate
    from assay.store import open_store

    # A run ends by storing its snapshot with NumPy, which the engine loads only then (start-up
    # stays light). Loading it here keeps that one-off import (about 0.1-0.2 CPU-seconds) out
    # of the timed run, which measures the engine's work per item.
    importlib.import_module("assay.analysis.service")

    home = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    store = open_store(Settings(home=home))
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench",
        (
            ItemCreate(input={"q": f"question {i}"}, expected_output=f"question {i}")
            for i in range(n)
        ),
    )
    return store


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def zero(n: int, concurrency: int, traces: bool = True) -> dict[str, Any]:
    from assay.engine import RunOptions, plan
    from assay.scorers import exact_match
    from assay.targets import FunctionTarget

    store = _prepare(n)

    def task(x: dict[str, str]) -> str:
        return x["q"]

    start = time.perf_counter()
    cpu = time.process_time()
    prepared = plan(
        store,
        dataset="bench",
        target=FunctionTarget(task),
        scorers=[exact_match()],
        options=RunOptions(concurrency=concurrency, traces=traces),
        defer=True,
    )
    planned = time.perf_counter()
    experiment = asyncio.run(prepared.run())
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    summary = store.experiments.summary(experiment.id)
    if summary.completed != n or summary.pass_rate != 1.0:
        raise SystemExit(f"unexpected outcome: {summary}")
    return {
        "workload": "zero-latency function + exact_match" + ("" if traces else ", traces off"),
        "items": n,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "plan_seconds": round(planned - start, 3),
        "items_per_s": round(n / elapsed),
        "cpu_seconds": round(cpu, 3),
        "items_per_cpu_s": round(n / cpu),
        "load_average_1m": os.getloadavg()[0],
        "p50_latency_ms": summary.p50_latency_ms,
        "p95_latency_ms": summary.p95_latency_ms,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def sleep(n: int, concurrency: int, delay: float = 0.05) -> dict[str, Any]:
    from assay.engine import RunOptions, plan
    from assay.targets import FunctionTarget

    store = _prepare(n)

    async def task(x: dict[str, str]) -> str:
        await asyncio.sleep(delay)
        return x["q"]

    start = time.perf_counter()
    prepared = plan(
        store,
        dataset="bench",
        target=FunctionTarget(task),
        options=RunOptions(concurrency=concurrency),
        defer=True,
    )
    planned = time.perf_counter()
    experiment = asyncio.run(prepared.run())
    end = time.perf_counter()
    elapsed = end - start
    summary = store.experiments.summary(experiment.id)
    if summary.completed != n:
        raise SystemExit(f"unexpected outcome: {summary}")
    ideal = concurrency / delay
    return {
        "workload": f"async target sleeping {delay * 1000:g} ms",
        "items": n,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "items_per_s": round(n / elapsed),
        "ideal_items_per_s": round(ideal),
        "of_ideal": round(n / elapsed / ideal, 3),
        "plan_seconds": round(planned - start, 3),
        "run_of_ideal": round(n / (end - planned) / ideal, 3),
        "p50_latency_ms": summary.p50_latency_ms,
        "p95_latency_ms": summary.p95_latency_ms,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of the zero workload.")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind, n, concurrency = args.child[0], int(args.child[1]), int(args.child[2])
        if kind == "sleep":
            print(json.dumps(sleep(n, concurrency)))
        else:
            print(json.dumps(zero(n, concurrency, traces=kind == "zero")))
        return

    runs = [_child(["zero", str(args.items), "10"]) for _ in range(args.repeat)]
    best = max(runs, key=lambda r: r["items_per_s"])
    print(
        f"zero-latency + exact_match, {args.items:,} items: "
        + ", ".join(f"{r['items_per_s']:,}/s" for r in runs)
        + f"  (best {best['items_per_s']:,} items/s, plan {best['plan_seconds']} s, "
        f"p50 {best['p50_latency_ms']:.4f} ms, p95 {best['p95_latency_ms']:.4f} ms, "
        f"peak RSS {best['peak_rss_mb']} MB; {best['items_per_cpu_s']:,} items per CPU-second, "
        f"load average {best['load_average_1m']:.2f})"
    )
    untraced = [_child(["zero-untraced", str(args.items), "10"]) for _ in range(args.repeat)]
    fastest = max(untraced, key=lambda r: r["items_per_s"])
    print(
        "the same without traces: "
        + ", ".join(f"{r['items_per_s']:,}/s" for r in untraced)
        + f"  (best {fastest['items_per_s']:,} items/s)"
    )
    sleeps = []
    for concurrency, n in ((100, 10_000), (1_000, 20_000)):
        r = _child(["sleep", str(n), str(concurrency)])
        sleeps.append(r)
        print(
            f"sleep 50 ms, concurrency {concurrency:>5}, {n:,} items: "
            f"{r['items_per_s']:,} items/s = {r['of_ideal']:.1%} of ideal "
            f"{r['ideal_items_per_s']:,} ({r['run_of_ideal']:.1%} after the "
            f"{r['plan_seconds']} s of planning); p50 {r['p50_latency_ms']:.1f} ms, "
            f"p95 {r['p95_latency_ms']:.1f} ms, peak RSS {r['peak_rss_mb']} MB"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "zero_latency": {"best": best, "runs": runs},
                "zero_latency_traces_off": {"best": fastest, "runs": untraced},
                "sleep_50ms": sleeps,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
