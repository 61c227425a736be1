"""The result writer alone: CPU per item to write a run's plan and record its results.

Builds a store with a dataset of N items, plans a run over it (nothing executed), then times on
one thread, in CPU seconds: committing the plan as the runner does (with the planned result
rows, or without them in a tree whose runner inserts each result whole), and recording N
pre-built completions (what a zero-latency function target with ``exact_match`` and traces on
hands the writer) in batches of 2,000, each batch one transaction as the writer commits it.
The floor (``bench/_floor.py``: the same final rows by plain ``executemany``) is measured in
the same run, and the writer's figures are printed as a multiple of it.

    python bench/writer.py                         # 20,000 items, 3 rounds
    python bench/writer.py --baseline /path/to/other/checkout
    python bench/writer.py --profile out.prof      # cProfile of the timed part (this tree)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from inspect import signature
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
RESULTS = BENCH / "results" / "writer.json"
BATCH = 2_000


def measure(n: int, profile: str | None = None) -> dict[str, Any]:
    """Plan and record ``n`` results in a fresh store (in this process)."""
    from assay.config import Settings
    from assay.domain import DatasetCreate, ExperimentCreate, ItemCreate, ScoreCreate
    from assay.store import open_store
    from assay.store.recording import Completion, RunTrace

    home = Path(tempfile.mkdtemp(prefix="assay-writer-"))
    store = open_store(Settings(home=home))
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench",
        (
            ItemCreate(input={"q": f"question {i}"}, expected_output=f"question {i}")
            for i in range(n)
        ),
    )
    planned = store.experiments.prepare(ExperimentCreate(name="writer", dataset="bench"))
    work = list(planned.work)
    # A tree whose runner inserts each result whole gets the item with its completion.
    named = "item" in {f.name for f in dataclasses.fields(Completion)}
    completions = []
    for w in work:
        started = time.time()
        trace = RunTrace(
            "writer",
            planned.experiment.id,
            w.input,
            metadata={"dataset_item_id": w.item_id, "attempts": 1},
        )
        score = ScoreCreate(name="exact_match", value=True, passed=True)
        completions.append(
            Completion(
                w.result_id,
                "completed",
                w.input["q"],
                None,
                0.01,
                None,
                None,
                None,
                1,
                True,
                started,
                started + 1e-5,
                [score],
                trace,
                **({"item": w} if named else {}),
            )
        )
    try:
        from assay.interpreter import relaxed_gc
    except ImportError:  # a tree from before the module's moves
        try:
            from assay.engine.interpreter import relaxed_gc  # type: ignore[no-redef]
        except ImportError:
            from assay.engine.memory import relaxed_gc  # type: ignore[no-redef]

    with relaxed_gc():  # as during a run
        timed: dict[str, Any] = _timed(store, planned, completions, n, profile)
    summary = store.experiments.summary(planned.experiment.id)
    if summary.completed != n:
        raise SystemExit(f"unexpected outcome: {summary}")
    store.close()
    return timed


def _timed(
    store: Any, planned: Any, completions: list[Any], n: int, profile: str | None
) -> dict[str, Any]:
    from assay.store.lease import Lease

    worker = "bench:1:writer"
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    # As the runner commits its own plan: without pending rows in a tree that can.
    deferred = "write_pending" in signature(planned.commit).parameters
    cpu = time.thread_time()
    planned.commit(worker=worker, **({"write_pending": False} if deferred else {}))
    plan_cpu = time.thread_time() - cpu
    lease = Lease(planned.experiment.id, worker, 1)
    # As the run's writer does: the run was planned by this runner (a tree that knows it).
    fresh = {"fresh": True} if "fresh" in signature(store.experiments.record).parameters else {}
    cpu = time.thread_time()
    for start in range(0, n, BATCH):
        store.experiments.record(
            planned.experiment.id, completions[start : start + BATCH], lease=lease, **fresh
        )
    record_cpu = time.thread_time() - cpu
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    return {
        "items": n,
        "plan_us_per_item": round(plan_cpu / n * 1e6, 2),
        "record_us_per_item": round(record_cpu / n * 1e6, 2),
        "writer_us_per_item": round((plan_cpu + record_cpu) / n * 1e6, 2),
    }


def child(src: Path, *args: Any) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="Another checkout to compare against.")
    parser.add_argument("--profile", help="Write a cProfile of one run of this tree here.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind, n = args.child[0], int(args.child[1])
        if kind == "floor":
            sys.path.insert(0, str(BENCH))
            from _floor import floor

            print(json.dumps(floor(n)))
        else:
            print(json.dumps(measure(n, args.child[2] if len(args.child) > 2 else None)))
        return
    if args.profile:
        print(json.dumps(measure(args.items, args.profile)))
        return
    trees = {"this": SRC}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve() / "src", "this": SRC}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    floors = []
    for _ in range(args.rounds):  # interleaved, so every tree sees the same load
        floors.append(child(SRC, "floor", args.items))
        for name, src in trees.items():
            runs[name].append(child(src, "writer", args.items))
    floor_us = _median([f["run_us_per_item"] for f in floors])
    print(f"floor, {args.items:,} items: {floor_us} µs of CPU per item (run rows)")
    for name, rs in runs.items():
        plan = _median([r["plan_us_per_item"] for r in rs])
        record = _median([r["record_us_per_item"] for r in rs])
        total = _median([r["writer_us_per_item"] for r in rs])
        print(
            f"writer, {name}: plan {plan} + record {record} = {total} µs of CPU per item "
            f"(rounds: {', '.join(str(r['writer_us_per_item']) for r in rs)}) = "
            f"{total / floor_us:.2f}x the floor"
        )
    if len(runs) == 2:
        base = _median([r["writer_us_per_item"] for r in runs["baseline"]])
        mine = _median([r["writer_us_per_item"] for r in runs["this"]])
        print(f"  writer CPU per item, this / baseline: {mine / base:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"floor": floors, **runs}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
