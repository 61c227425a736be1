"""Which result writer wins where: the writer thread against the writer process, by concurrency.

Each cell is ``evaluate()`` of a stored dataset of ``waves * C`` items (20 waves of calls unless
``--waves`` says; the dataset is saved first, untimed, in a fresh store), with a target that
waits 50 ms and the ``exact_match`` scorer, traces on. The target is an async function
(``asyncio.sleep``) or a sync one (``time.sleep``, run on the runner's threads). Each cell runs
once per round with ``writer="thread"`` and once with ``writer="process"``, alternately, in
fresh interpreters, so both see the same load; printed as the share of the ideal rate (C / 50
ms) over the whole call, with the per-round ratio process / thread; the rule ``writer="auto"``
follows is printed first. CPU seconds are the run's process and its writer process; peak RSS
is given for each.

    python bench/writers.py                          # writes bench/results/writers.json
    python bench/writers.py --concurrency 500,1000 --targets async --rounds 5
    python bench/writers.py --concurrency 1000 --waves 5 --out /tmp/short.json
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

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
RESULTS = BENCH / "results" / "writers.json"
DELAY = 0.05
WAVES = 20


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cell(kind: str, writer: str, concurrency: int, waves: int) -> dict[str, Any]:
    """One ``evaluate()`` in a fresh store (run in a process of its own)."""
    with tempfile.TemporaryDirectory(prefix="assay-writers-") as home:
        os.environ["ASSAY_HOME"] = home
        import assay
        from assay.config import Settings
        from assay.domain import DatasetCreate, ItemCreate
        from assay.engine import RunOptions
        from assay.scorers import exact_match
        from assay.store import open_store

        n = waves * concurrency
        store = open_store(Settings(home=Path(home)))
        store.datasets.create(DatasetCreate(name="writers"))
        store.datasets.add_items(
            "writers", (ItemCreate(input={"q": f"q{i}"}, expected_output=f"a{i}") for i in range(n))
        )
        store.close()

        async def wait_async(x: dict[str, str]) -> str:
            await asyncio.sleep(DELAY)
            return "a" + x["q"][1:]

        def wait_sync(x: dict[str, str]) -> str:
            time.sleep(DELAY)
            return "a" + x["q"][1:]

        task = wait_async if kind == "async" else wait_sync
        options = RunOptions(concurrency=concurrency, writer=writer)
        cpu, start = _cpu(), time.perf_counter()
        result = assay.evaluate("writers", task, [exact_match()], name="writers", options=options)
        seconds = time.perf_counter() - start
        cpu = _cpu() - cpu
        summary = result.summary
        result.close()
    if summary.completed != n:
        raise SystemExit(f"unexpected outcome: {summary}")
    return {
        "target": kind,
        "writer": writer,
        "concurrency": concurrency,
        "items": n,
        "seconds": round(seconds, 3),
        "of_ideal": round(n / seconds / (concurrency / DELAY), 3),
        "cpu_seconds": round(cpu, 3),
        "us_cpu_per_item": round(cpu / n * 1e6, 1),
        "p95_latency_ms": summary.p95_latency_ms,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # the largest child waited for: the writer process, if the run had one
        "writer_process_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


def child(*args: Any) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # load from bytecode, as an installed package
    done = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _shares(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['of_ideal']:.1%}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="250,500,1000,2500")
    parser.add_argument("--targets", default="async,sync")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--waves", type=int, default=WAVES, help="Items per cell: waves * C.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind, writer, concurrency, waves = args.child
        print(json.dumps(cell(kind, writer, int(concurrency), int(waves))))
        return

    sys.path.insert(0, str(SRC))
    from assay.engine import RunOptions

    auto = RunOptions()
    rule = (
        f"writer='auto' (the default) uses the process for {auto.process_writer_min:,} results or"
        f" more at concurrency {auto.process_writer_concurrency:,} or more"
    )
    print(rule)
    cells: list[dict[str, Any]] = []
    for kind in args.targets.split(","):
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            runs: dict[str, list[dict[str, Any]]] = {"thread": [], "process": []}
            for _ in range(args.rounds):
                for writer in runs:
                    runs[writer].append(child(kind, writer, concurrency, args.waves))
            ratios = [
                p["of_ideal"] / t["of_ideal"]
                for t, p in zip(runs["thread"], runs["process"], strict=True)
            ]
            n = args.waves * concurrency
            print(
                f"{kind} target, concurrency {concurrency:>5}, {n:,} items: "
                + "; ".join(
                    f"{w} {_shares(rs)} of ideal "
                    f"({_median([r['us_cpu_per_item'] for r in rs])} µs CPU/item)"
                    for w, rs in runs.items()
                )
                + f"; process / thread {_median(ratios):.2f} (per round)"
            )
            cells.append({"target": kind, "concurrency": concurrency, "runs": runs})
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0],
        },
        "auto": rule,
        "cells": cells,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
