"""Comparison, gate and trend speed on large runs, in memory and from SQLite.

In memory: two runs of ``--items`` items (a pass/fail scorer and a continuous numeric scorer;
about 10 % of outputs differ) are compared from :class:`RunFrame` columns.

From SQLite, each phase in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own:

- ``build``: two runs of ``--items`` items (``exact_match`` and ``similarity`` scores) into a
  fresh store, executed by the engine (``assay.evaluate``, ``--build engine``, the default up
  to 100,000 items) or written through the bulk recording path a page at a time (streamed
  plan, ``record_rows``, ``finish`` and the snapshot a run stores as it ends; ``--build rows``);
- ``cold``: ``compare_experiments`` with the runs' stored snapshots removed first (every
  result and score row read from SQL);
- ``warm``: ``compare_experiments`` (statistics) and ``load_run`` as usual (each run's
  snapshot read back);
- ``pages``: the first page of regressions, the API's first page and ``gate_experiment``
  (``--no-pages`` skips it);
- ``trend``: ``store.analytics.trend`` over ``--runs`` runs of ``--run-items`` items.

``--home DIR`` keeps the store in ``DIR`` and reuses it on the next run (the ``build`` phase is
skipped while ``DIR`` holds two runs of ``--items`` items built the same way).

``--tree NAME=SRC`` (repeatable) runs the ``cold``, ``warm`` and ``pages`` phases with each tree's
``src`` on ``PYTHONPATH`` (interleaved, on the same store, ``--rounds`` times): before/after in
one run. The floor of a cold read is the same rows fetched with a plain ``sqlite3`` cursor
(measured every round as well). Prints the figures and writes ``bench/results/compare.json``
(``compare-<items>.json`` for other sizes).

    PYTHONPATH=src python bench/compare.py [--items 100000] [--runs 100] [--run-items 10000]
    PYTHONPATH=src python bench/compare.py --items 1000000 --sqlite-only --runs 0
    PYTHONPATH=src python bench/compare.py --sqlite-only --runs 0 --home /tmp/compare-100k
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete

from _compare_runs import engine_runs, recorded_runs, rows_run, synthetic_results
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
from assay.domain import DatasetCreate, ItemCreate
from assay.service.compare import compare as api_compare
from assay.store import Store, open_store
from assay.store.tables import run_frames

T = TypeVar("T")
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


def _drop_snapshots(store: Store) -> None:
    with store.db.write() as conn:
        conn.execute(delete(run_frames))


def peak_rss_mb() -> float:
    """This process's peak RSS. ``ru_maxrss`` survives fork and exec (a phase would report
    its parent's peak when that is higher); Linux's ``VmHWM`` belongs to the process image."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _floor_read(store: Store, run_ids: list[str]) -> None:
    """The floor of a cold read: the result and score columns a frame needs, fetched with a
    plain ``sqlite3`` cursor (no frame built)."""
    path = str(store.db.url.database)
    conn = sqlite3.connect(path)
    try:
        for run_id in run_ids:
            conn.execute(
                "SELECT id, item_id, repetition, status, passed, latency_ms, cost, error "
                "FROM results WHERE experiment_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
            conn.execute(
                "SELECT result_id, name, numeric_value, passed, source, cost FROM scores "
                "WHERE experiment_id = ? AND result_id IS NOT NULL",
                (run_id,),
            ).fetchall()
    finally:
        conn.close()


def run_phase(args: argparse.Namespace) -> dict[str, Any]:
    """One SQLite phase, in this (fresh) process."""
    home = Path(args.home)
    store = open_store(Settings(home=home))
    figures: dict[str, Any] = {}
    ids_file = home / "runs.json"
    rss_before = peak_rss_mb()
    cpu = time.process_time()
    try:
        if args.phase == "build":
            start = time.perf_counter()
            if args.build == "engine":
                base, cand = engine_runs(store, args.items)
            else:
                store.datasets.create(DatasetCreate(name="bench"))
                store.datasets.add_items(
                    "bench",
                    (
                        ItemCreate(input={"k": k}, expected_output=f"answer {k} is forty-two")
                        for k in range(args.items)
                    ),
                )
                base = rows_run(store, "main", 0.70, 1)
                cand = rows_run(store, "feature", 0.71, 2)
            figures["setup_two_runs_s"] = time.perf_counter() - start
            ids_file.write_text(json.dumps([base, cand]))
        elif args.phase != "trend":
            base, cand = json.loads(ids_file.read_text())
        if args.phase == "floor":
            _, figures["floor_read_s"] = timed(lambda: _floor_read(store, [base, cand]))
        elif args.phase == "cold":
            # Runs without a current snapshot (uploaded runs, runs changed since by human
            # scores) are read from their result and score rows (and the snapshot stored).
            best = best_cpu = float("inf")
            for _ in range(args.repeat):
                _drop_snapshots(store)
                start, cpu_start = time.perf_counter(), time.process_time()
                compare_experiments(store, [base, cand], items=False)
                best = min(best, time.perf_counter() - start)
                best_cpu = min(best_cpu, time.process_time() - cpu_start)
            figures["compare_experiments_without_snapshots_s"] = best
            figures["compare_experiments_without_snapshots_cpu_s"] = best_cpu
            _drop_snapshots(store)
            _, figures["store_snapshot_at_run_end_s"] = timed(
                lambda: store_frame(store, cand), repeat=1
            )
        elif args.phase == "warm":
            stats, t = timed(lambda: compare_experiments(store, [base, cand], items=False))
            figures["compare_experiments_s"] = t
            _, figures["load_run_s"] = timed(lambda: load_run(store, cand, outputs=False))
            figures["verdicts"] = {m.name: m.contrasts[0].verdict.value for m in stats.metrics}
        elif args.phase == "pages":
            if args.items <= 100_000:  # every output as Python objects: not at a million
                _, figures["load_run_with_outputs_s"] = timed(lambda: load_run(store, cand))
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
        elif args.phase == "trend":
            start = time.perf_counter()
            recorded_runs(store, args.runs, args.run_items)
            figures["setup_trend_runs_s"] = time.perf_counter() - start
            series, t = timed(lambda: store.analytics.trend("trend", limit=args.runs))
            figures["trend_s"] = t
            figures["trend_points"] = len(series)
            health, t = timed(lambda: store.analytics.dataset_health("trend", last=args.runs), 1)
            figures["dataset_health_s"] = t
            figures["flaky_items"] = health.flaky
        elif args.phase != "build":
            raise SystemExit(f"unknown phase {args.phase}")
    finally:
        store.close()
    figures["cpu_s"] = round(time.process_time() - cpu, 3)
    figures["rss_before_phase_mb"] = round(rss_before, 1)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return figures


def spawn(phase: str, args: argparse.Namespace, home: Path, src: str | None) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--home",
        str(home),
        "--items",
        str(args.items),
        "--runs",
        str(args.runs),
        "--run-items",
        str(args.run_items),
        "--build",
        args.build,
        "--repeat",
        str(args.repeat),
    ]
    env = os.environ.copy()
    if src is not None:
        env["PYTHONPATH"] = src
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3_600)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def sqlite_figures(args: argparse.Namespace) -> dict[str, Any]:
    """The comparison, gate and trend phases from a fresh SQLite store (or the one kept in
    ``--home``)."""
    kept = args.home is not None
    home = Path(args.home) if kept else Path(tempfile.mkdtemp(prefix="assay-bench-compare-"))
    home.mkdir(parents=True, exist_ok=True)
    built = home / "bench.json"
    build = {"items": args.items, "build": args.build}
    trees: list[tuple[str, str | None]] = [
        (name, str(Path(src).resolve())) for name, _, src in (t.partition("=") for t in args.tree)
    ] or [("this", None)]
    out: dict[str, Any] = {"phases": {}}
    try:
        if kept and built.exists() and json.loads(built.read_text())["build"] == build:
            out["phases"]["build"] = json.loads(built.read_text())["figures"]
        else:
            if any(home.iterdir()):
                raise SystemExit(f"{home} holds another store: give an empty or new --home")
            out["phases"]["build"] = spawn("build", args, home, None)
            built.write_text(json.dumps({"build": build, "figures": out["phases"]["build"]}))
        for _ in range(args.rounds):
            # The floor too is measured every round: the best of each, taken alike.
            floor = spawn("floor", args, home, None)
            seen_floor = out["phases"].setdefault("floor", floor)
            seen_floor["floor_read_s"] = min(seen_floor["floor_read_s"], floor["floor_read_s"])
            for name, src in trees:
                for phase in ("cold", "warm", *(("pages",) if args.pages else ())):
                    figures = spawn(phase, args, home, src)
                    key = phase if len(trees) == 1 else f"{phase}[{name}]"
                    # Several rounds: keep the best time of each figure, the highest peak.
                    seen = out["phases"].setdefault(key, figures)
                    for k, v in figures.items():
                        if k.endswith("_s"):
                            seen[k] = min(seen[k], v)
                        elif k == "peak_rss_mb":
                            seen[k] = max(seen[k], v)
        if args.runs:  # its own store when the runs' store is kept (it adds a dataset)
            trend_home = Path(tempfile.mkdtemp(prefix="assay-bench-trend-")) if kept else home
            try:
                out["phases"]["trend"] = spawn("trend", args, trend_home, None)
            finally:
                if kept:
                    shutil.rmtree(trend_home, ignore_errors=True)
    finally:
        if not kept:
            shutil.rmtree(home, ignore_errors=True)
    floor = out["phases"]["floor"]["floor_read_s"]
    for key, figures in out["phases"].items():
        if key.startswith("cold"):
            t = figures["compare_experiments_without_snapshots_s"]
            figures["without_snapshots_to_floor"] = round(t / floor, 2)
            cpu = figures["compare_experiments_without_snapshots_cpu_s"]
            figures["items_per_cpu_second"] = round(2 * args.items / cpu)

    def last(kind: str) -> dict[str, Any]:  # the last tree's figures (the one measured)
        return next((v for k, v in reversed(out["phases"].items()) if k.startswith(kind)), {})

    for kind in ("warm", "pages"):
        out.update(last(kind))
    out.update({k: v for k, v in last("cold").items() if k.endswith("_s")})
    out["floor_read_s"] = floor
    out["setup_two_runs_s"] = out["phases"]["build"]["setup_two_runs_s"]
    if args.runs:
        out.update(out["phases"]["trend"])
    for key in ("cpu_s", "peak_rss_mb", "rss_before_phase_mb"):
        out.pop(key, None)
    return out


def memory_figures(n: int) -> dict[str, Any]:
    """Bootstrap, comparison and gate on frames built in memory from result records."""
    figures: dict[str, Any] = {}
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
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100, help="trend runs (0: no trend phase)")
    parser.add_argument("--run-items", type=int, default=10_000)
    parser.add_argument("--build", choices=("engine", "rows"), default=None)
    parser.add_argument("--sqlite-only", action="store_true", help="skip the in-memory part")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--rounds", type=int, default=1, help="cold/warm rounds per tree")
    parser.add_argument(
        "--no-pages", dest="pages", action="store_false", help="skip the pages phase"
    )
    parser.add_argument("--repeat", type=int, default=3, help="cold reads per cold phase")
    parser.add_argument(
        "--home", metavar="DIR", help="keep the store in DIR and reuse it (no build phase)"
    )
    # Internal: run one phase in this process.
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build is None:
        args.build = "engine" if args.items <= 100_000 else "rows"
    if args.phase:
        print(json.dumps(run_phase(args)))
        return
    n = args.items
    figures: dict[str, Any] = {
        "items": n,
        "build": args.build,
        "trend_runs": args.runs,
        "trend_items": args.run_items,
    }
    if not args.sqlite_only:
        figures.update(memory_figures(n))
    figures["sqlite"] = sqlite_figures(args)

    figures["load_average_1m"] = os.getloadavg()[0]  # the machine is shared: context for timings
    figures["python"] = platform.python_version()
    figures["numpy"] = np.__version__
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in [*figures.items(), *figures["sqlite"].items()]:
        if key.endswith("_s"):
            print(f"{key:48s} {value:8.3f} s")
    for phase, values in figures["sqlite"]["phases"].items():
        extra = ""
        if "without_snapshots_to_floor" in values:
            extra = (
                f"  {values['compare_experiments_without_snapshots_s']:.3f} s"
                f" = {values['without_snapshots_to_floor']:.2f}x floor"
                f", {values['items_per_cpu_second']:,} items/CPU-s"
            )
        print(f"phase {phase:20s} peak RSS {values['peak_rss_mb']:7.1f} MB{extra}")
    for name, v in figures.get("verdicts", {}).items():
        print(f"{name:40s} {v['verdict']} ({v['test']}, p={v['p_value']:.3g})")
    out = OUT if n == 100_000 else OUT.with_name(f"compare-{n}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
