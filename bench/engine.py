"""Engine benchmark: CPU per item against the physical floor, fixed set-up, memory, concurrency.

Every workload runs in its own process (so peak RSS is its own); CPU time is the process's own
plus its writer processes'. The floor (``bench/_floor.py``: the same rows written by plain
Python with ``executemany`` into the schema Assay's migrations create) is measured in the same
run, and engine figures are printed as a multiple of it.

- ``zero``: N items (default 20,000) already stored, a zero-latency sync function target, the
  ``exact_match`` scorer, traces on (and again off); from ``plan`` to every result, score and
  trace committed and the experiment finished. Reported as items per CPU-second and µs of CPU
  per item, over the floor's run rows.
- ``save``: what ``evaluate()`` does first with an inline list of N items: check every row and
  save the list as a content-addressed dataset version (``evaluation/datasets.py:
  dataset_ref``). A new list, the same list changed (one item in 20 replaced, so most items
  are matched with stored ones and only the others written) and the unchanged list again (hashed
  and found). Reported as µs of CPU and items per CPU-second, over the floor's dataset items
  (plain ``executemany`` of the rows, with no validation or content hash).
- ``setup``: the fixed part of ``evaluate()``: a 10-item list against a store that already holds
  it (schema at head, the list saved before), wall and CPU time of the whole call.
- ``memory``: peak RSS of ``evaluate()`` over a stored dataset of each size in ``--sizes`` (the
  dataset is written by another process first), of a queued run over the same dataset taken
  up as a worker takes it (``resume``: its plan derived from the experiment row), and of
  ``evaluate()`` over an in-memory list of 10,000 items.
- ``inline``: what a first ``evaluate()`` of a list costs at high concurrency: a new inline list
  of N items (its dataset does not exist yet) in a store at head, an async target that awaits
  50 ms, ``exact_match``, concurrency 1,000; wall time over the ideal, when the first call
  started and how long after the last call ended ``evaluate()`` returned. Alternated with
  ``--baseline``, ``--rounds`` times.
- ``sleep``: a target that awaits 50 ms at concurrency 100, 1,000 and 5,000, no scorer, the
  default writer (``auto``: see ``bench/writers.py``); achieved items/s over the ideal
  (concurrency / 0.05 s), over the whole run, after planning, and from the first call's start
  to the last call's end; and the same over the ideal of the floor of such a run measured just
  before it (``bench/_floor.py: latency_run``: the stored items read in one query, plain
  asyncio on the same event loop, each result and trace row committed by a writer thread with
  ``executemany``).

With ``--baseline TREE`` (another checkout, e.g. the commit before a change) the ``zero``,
``save`` and ``setup`` workloads of both trees run alternately, ``--rounds`` times, under the
same load, and both are printed with their ratio; the ``memory`` and ``sleep`` workloads run for
both trees too.

    python bench/engine.py                               # writes bench/results/engine.json
    python bench/engine.py --items 5000 --sizes 10000,100000
    python bench/engine.py --baseline /path/to/base --rounds 3
    python bench/engine.py --only save --rounds 5 --out /tmp/save.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
RESULTS = BENCH / "results" / "engine.json"


# ---------------------------------------------------------------------------------- driver
def child(src: Path, *args: Any, timeout: float = 3600) -> dict[str, Any]:
    """One workload in a fresh interpreter importing Assay from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    # Modules load from bytecode, as from an installed package (pip compiles it on install):
    # compiling the engine's modules from source would add about 15 ms to every run's start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Homes:
    """Temporary stores, each prepared once (by ``src``) and removed at the end."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="assay-bench-"))
        self._made: dict[tuple[str, int], Path] = {}

    def get(self, src: Path, n: int) -> Path:
        key = (str(src), n)
        if key not in self._made:
            home = self.root / f"{len(self._made)}-{n}"
            child(src, "prepare", home, n)
            self._made[key] = home
        return self._made[key]

    def fresh(self, src: Path, n: int) -> Path:
        """A copy of the prepared store for ``n`` (so each run starts from the same state)."""
        home = self.root / f"copy-{time.monotonic_ns()}"
        shutil.copytree(self.get(src, n), home)
        return home

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _zero_rounds(
    trees: dict[str, Path], homes: Homes, n: int, rounds: int, kind: str
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(rounds):
        for name, src in trees.items():  # alternately, so both see the same load
            home = homes.fresh(src, n)
            runs[name].append(child(src, kind, home, n))
            shutil.rmtree(home, ignore_errors=True)
    return runs


def _save_rounds(
    trees: dict[str, Path], homes: Homes, n: int, rounds: int
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(rounds):
        for name, src in trees.items():  # alternately, so both see the same load
            home = homes.fresh(src, 10)  # a store at head; the list goes to a dataset of its own
            runs[name].append(child(src, "save", home, n))
            shutil.rmtree(home, ignore_errors=True)
    return runs


def _setup_rounds(
    trees: dict[str, Path], homes: Homes, rounds: int
) -> dict[str, list[dict[str, Any]]]:
    stores: dict[str, Path] = {}
    for name, src in trees.items():
        stores[name] = homes.fresh(src, 10)
        child(src, "setup", stores[name], 10)  # saves the list; the schema is at head
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(rounds):
        for name, src in trees.items():
            out[name].append(child(src, "setup", stores[name], 10))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each timed workload.")
    parser.add_argument("--sizes", default="10000,100000", help="Memory sizes, comma-separated.")
    parser.add_argument("--baseline", type=Path, help="Another checkout to compare against.")
    parser.add_argument(
        "--only",
        default="zero,save,setup,memory,inline,sleep",
        help="Workloads to run, comma-separated.",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="Where to write the JSON.")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        from _engine_workloads import run

        print(json.dumps(run(args.child)))
        return

    only = set(args.only.split(","))
    trees = {"this": SRC}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve() / "src", "this": SRC}
    homes = Homes()
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "trees": {name: str(src) for name, src in trees.items()},
    }
    try:
        if "zero" in only or "save" in only:
            floors = [child(SRC, "floor", "-", args.items) for _ in range(args.rounds)]
            floor_us = _median([f["run_us_per_item"] for f in floors])
            items_floor_us = _median([f["items_cpu_seconds"] for f in floors]) / args.items * 1e6
            print(
                f"floor, {args.items:,} items: run rows {floor_us} µs of CPU per item "
                f"({round(1e6 / floor_us):,} items/CPU-s); dataset items "
                f"{items_floor_us:.1f} µs per item"
            )
            report["floor"] = floors
        if "zero" in only:
            for kind in ("zero", "zero-untraced"):
                runs = _zero_rounds(trees, homes, args.items, args.rounds, kind)
                report[kind] = runs
                label = "traces on" if kind == "zero" else "traces off"
                for name, rs in runs.items():
                    us = _median([r["us_per_item"] for r in rs])
                    print(
                        f"zero-latency + exact_match, {label}, {name}: "
                        + ", ".join(f"{r['items_per_cpu_s']:,}" for r in rs)
                        + f" items/CPU-s; median {us} µs/item = {us / floor_us:.2f}x the "
                        f"floor; peak RSS {max(r['peak_rss_mb'] for r in rs)} MB"
                    )
                if len(runs) == 2:
                    base = _median([r["us_per_item"] for r in runs["baseline"]])
                    mine = _median([r["us_per_item"] for r in runs["this"]])
                    print(f"  CPU per item, this / baseline: {mine / base:.2f}")
        if "save" in only:
            saves = _save_rounds(trees, homes, args.items, args.rounds)
            report["save"] = saves
            for label in ("new", "changed", "same"):
                for name, rs in saves.items():
                    us = _median([r[label]["us_per_item"] for r in rs])
                    print(
                        f"save an inline list of {args.items:,} items, {label}, {name}: "
                        + ", ".join(f"{r[label]['items_per_cpu_s']:,}" for r in rs)
                        + f" items/CPU-s; median {us} µs/item = {us / items_floor_us:.2f}x "
                        "the dataset items floor"
                    )
                if len(saves) == 2:
                    pairs = [
                        this[label]["us_per_item"] / base[label]["us_per_item"]
                        for base, this in zip(saves["baseline"], saves["this"], strict=True)
                    ]
                    print(f"  CPU per item, this / baseline: {_median(pairs):.2f} (per round)")
        if "setup" in only:
            setups = _setup_rounds(trees, homes, args.rounds)
            report["setup"] = setups
            for name, rs in setups.items():
                print(
                    f"evaluate() of 10 stored items (fixed set-up), {name}: "
                    + ", ".join(f"{r['seconds'] * 1000:.0f} ms" for r in rs)
                    + f" wall; CPU median {_median([r['cpu_seconds'] for r in rs]) * 1000:.0f} ms"
                )
        if "memory" in only:
            sizes = [int(s) for s in args.sizes.split(",") if s]
            mems: list[dict[str, Any]] = []
            for n in sizes:
                for name, src in trees.items():
                    home = homes.fresh(src, n)
                    r = child(src, "memory", home, n) | {"tree": name}
                    mems.append(r)
                    print(
                        f"evaluate() over a stored dataset of {n:,} items, {name}: peak RSS "
                        f"{r['peak_rss_mb']} MB (imports {r['rss_before_mb']} MB), "
                        f"{r['items_per_cpu_s']:,} items/CPU-s"
                    )
                    r = child(src, "queued", home, n) | {"tree": name}
                    shutil.rmtree(home, ignore_errors=True)
                    mems.append(r)
                    print(
                        f"a queued run over the same {n:,} items, taken up as a worker does, "
                        f"{name}: peak RSS {r['peak_rss_mb']} MB (before {r['rss_before_mb']} "
                        f"MB), {r['items_per_cpu_s']:,} items/CPU-s"
                    )
            for name, src in trees.items():
                home = homes.root / f"inline-{name}"
                r = child(src, "memory-inline", home, 10_000) | {"tree": name}
                mems.append(r)
                print(
                    f"evaluate() over an in-memory list of 10,000 items, {name}: peak RSS "
                    f"{r['peak_rss_mb']} MB (with the list {r['rss_before_mb']} MB)"
                )
            report["memory"] = mems
        if "inline" in only:
            inlines: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                for name, src in trees.items():  # alternately, under the same load
                    home = homes.fresh(src, 10)
                    r = child(src, "inline", home, args.items) | {"tree": name}
                    shutil.rmtree(home, ignore_errors=True)
                    inlines.append(r)
                    print(
                        f"evaluate() of a new inline list of {args.items:,} items, 50 ms, "
                        f"concurrency 1,000, {name}: {r['of_ideal']:.1%} of ideal "
                        f"({r['seconds']} s); first call after {r['first_call_s'] * 1000:.0f} "
                        f"ms, {r['calls_of_ideal']:.1%} from the first call to the last, "
                        f"returned {r['after_last_call_s'] * 1000:.0f} ms after it; "
                        f"peak RSS {r['peak_rss_mb']} MB"
                    )
            report["inline"] = inlines
        if "sleep" in only:
            sleeps = []
            for concurrency, n in ((100, 10_000), (1_000, 20_000), (5_000, 50_000)):
                home = homes.fresh(SRC, n)
                low = child(SRC, "sleep-floor", home, n, concurrency)
                shutil.rmtree(home, ignore_errors=True)
                sleeps.append(low | {"tree": "floor"})
                print(
                    f"sleep 50 ms, concurrency {concurrency:>5}, {n:,} items, floor (asyncio "
                    f"and a writer thread): {low['of_ideal']:.1%} of ideal"
                )
                for name, src in trees.items():  # alternately, as the zero workload
                    home = homes.fresh(src, n)
                    r = child(src, "sleep", home, n, concurrency) | {"tree": name}
                    shutil.rmtree(home, ignore_errors=True)
                    r["of_floor"] = round(r["of_ideal"] / low["of_ideal"], 3)
                    sleeps.append(r)
                    print(
                        f"sleep 50 ms, concurrency {concurrency:>5}, {n:,} items, {name} "
                        f"(writer {r['writer']}): "
                        f"{r['items_per_s']:,} items/s = {r['of_ideal']:.1%} of ideal "
                        f"({r['of_floor']:.2f}x the floor's) "
                        f"{r['ideal_items_per_s']:,} ({r['run_of_ideal']:.1%} after the "
                        f"{r['plan_seconds']} s of planning, {r['calls_of_ideal']:.1%} from the "
                        f"first call to the last); p50 {r['p50_latency_ms']:.1f} ms, "
                        f"p95 {r['p95_latency_ms']:.1f} ms, peak RSS {r['peak_rss_mb']} MB"
                    )
            report["sleep_50ms"] = sleeps
    finally:
        homes.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
