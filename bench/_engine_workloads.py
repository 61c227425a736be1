"""The workloads of ``bench/engine.py``, each run in a fresh interpreter of its own (so its
peak RSS and CPU time are its own), importing Assay from the tree under test. The driver and
what each workload measures are described in ``bench/engine.py``."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path
from typing import Any


# ---------------------------------------------------------------------------------- helpers
def _cpu() -> float:
    """CPU seconds of this process and of the children it waited for (a writer process)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _footprint(n: int, before: float, elapsed: float, cpu: float) -> dict[str, Any]:
    """What the memory workloads report of a run of ``n`` items."""
    return {
        "items": n,
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu, 2),
        "items_per_cpu_s": round(n / cpu),
    }


def _store(home: Path) -> Any:
    from assay.config import Settings
    from assay.store import open_store

    return open_store(Settings(home=home))


def _items(n: int) -> Any:
    from assay.domain import ItemCreate

    return (
        ItemCreate(input={"q": f"question {i}"}, expected_output=f"question {i}") for i in range(n)
    )


def _list(n: int) -> list[dict[str, Any]]:
    return [{"input": {"q": f"question {i}"}, "expected_output": f"question {i}"} for i in range(n)]


def _task(x: dict[str, str]) -> str:
    return x["q"]


# ---------------------------------------------------------------------------------- workloads
def prepare(home: str, n: int) -> dict[str, Any]:
    """A store holding the dataset ``bench`` of ``n`` items (run in a process of its own)."""
    from assay.domain import DatasetCreate

    store = _store(Path(home))
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items("bench", _items(n))
    store.close()
    return {"items": n}


def zero(home: str, n: int, traces: bool) -> dict[str, Any]:
    import importlib

    from assay.engine import RunOptions, plan
    from assay.scorers import exact_match
    from assay.sync import run_sync
    from assay.targets import FunctionTarget

    # A run ends by storing its snapshot with NumPy, loaded only then; loading it here keeps
    # that one-off import out of the per-item figure.
    importlib.import_module("assay.analysis.service")
    store = _store(Path(home))
    start, cpu = time.perf_counter(), _cpu()
    prepared = plan(
        store,
        dataset="bench",
        target=FunctionTarget(_task),
        scorers=[exact_match()],
        options=RunOptions(concurrency=10, traces=traces),
        defer=True,
    )
    experiment = run_sync(prepared.run())  # the loop `assay run` and evaluate() use
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    summary = store.experiments.summary(experiment.id)
    if summary.completed != n or summary.pass_rate != 1.0:
        raise SystemExit(f"unexpected outcome: {summary}")
    return {
        "items": n,
        "traces": traces,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "items_per_cpu_s": round(n / cpu),
        "us_per_item": round(cpu / n * 1e6, 1),
        "load_average_1m": os.getloadavg()[0],
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def save(home: str, n: int) -> dict[str, Any]:
    """Save an inline list of ``n`` items as ``evaluate()`` does: new, changed, unchanged."""
    from assay.evaluation.datasets import dataset_ref

    store = _store(Path(home))
    dataset_ref(_list(10), store, "warm-up")  # one-off statement compilation, not per item
    rows = _list(n)
    changed = [
        {"input": {"q": f"other {i}"}, "expected_output": "other"} if i % 20 == 0 else row
        for i, row in enumerate(rows)
    ]
    out: dict[str, Any] = {"items": n, "load_average_1m": os.getloadavg()[0]}
    for label, data, version in (("new", rows, 1), ("changed", changed, 2), ("same", changed, 2)):
        start, cpu = time.perf_counter(), _cpu()
        saved = dataset_ref(data, store, "save")[1]
        elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
        if saved != version:
            raise SystemExit(f"{label}: saved version {saved}, expected {version}")
        out[label] = {
            "seconds": round(elapsed, 3),
            "cpu_seconds": round(cpu, 3),
            "us_per_item": round(cpu / n * 1e6, 2),
            "items_per_cpu_s": round(n / cpu),
        }
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    store.close()
    return out


def setup(home: str, n: int) -> dict[str, Any]:
    """``evaluate()`` of a small list the store already holds: its fixed cost."""
    import assay
    from assay.config import Settings
    from assay.scorers import exact_match

    items = [
        {"input": {"q": f"question {i}"}, "expected_output": f"question {i}"} for i in range(n)
    ]
    settings = Settings(home=Path(home))
    start, cpu = time.perf_counter(), _cpu()
    result = assay.evaluate(items, _task, [exact_match()], settings=settings, quiet=True)
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    if result.summary.completed != n:
        raise SystemExit(f"unexpected outcome: {result.summary}")
    result.close()
    return {"items": n, "seconds": round(elapsed, 4), "cpu_seconds": round(cpu, 4)}


def memory(home: str, n: int, inline: bool) -> dict[str, Any]:
    """Peak RSS of ``evaluate()`` over the stored dataset (or an in-memory list) of ``n``."""
    import importlib

    import assay
    from assay.config import Settings
    from assay.scorers import exact_match

    importlib.import_module("assay.analysis.service")
    importlib.import_module("assay.engine")
    data: Any = "bench"
    if inline:
        data = [
            {"input": {"q": f"question {i}"}, "expected_output": f"question {i}"} for i in range(n)
        ]
    before = _rss_mb()
    start, cpu = time.perf_counter(), _cpu()
    result = assay.evaluate(
        data, _task, [exact_match()], settings=Settings(home=Path(home)), quiet=True
    )
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    if result.summary.completed != n:
        raise SystemExit(f"unexpected outcome: {result.summary}")
    return {"inline_list": inline} | _footprint(n, before, elapsed, cpu)


def queued(home: str, n: int) -> dict[str, Any]:
    """Peak RSS of a queued run over the stored dataset of ``n``, taken up and run as a worker
    does (the plan derived from the experiment row, nothing planned in this process)."""
    from assay.domain import ExperimentCreate
    from assay.engine import resume
    from assay.scorers import exact_match
    from assay.store.queue import RunQueue
    from assay.sync import run_sync
    from assay.targets import FunctionTarget

    store = _store(Path(home))
    run = store.experiments.create_queued(ExperimentCreate(name="queued", dataset="bench"))
    RunQueue(store.db).start(store.project_id, run.id)
    before = _rss_mb()
    start, cpu = time.perf_counter(), _cpu()
    done = run_sync(
        resume(store, run.id, target=FunctionTarget(_task), scorers=[exact_match()]).run()
    )
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    summary = store.experiments.summary(done.id)
    if summary.completed != n:
        raise SystemExit(f"unexpected outcome: {summary}")
    return {"queued": True} | _footprint(n, before, elapsed, cpu)


def _timed_sleep(delay: float) -> tuple[list[float], Any]:
    """A target that awaits ``delay`` seconds, and when its first call started and its last
    call ended (filled in as it runs)."""
    calls = [0.0, 0.0]

    async def task(x: dict[str, str]) -> str:
        if not calls[0]:
            calls[0] = time.perf_counter()
        await asyncio.sleep(delay)
        calls[1] = max(calls[1], time.perf_counter())
        return x["q"]

    return calls, task


def inline(home: str, n: int, concurrency: int = 1_000, delay: float = 0.05) -> dict[str, Any]:
    """``evaluate()`` of a new inline list of ``n`` items with a ``delay`` target."""
    import importlib

    import assay
    from assay.config import Settings
    from assay.scorers import exact_match

    importlib.import_module("assay.analysis.service")
    importlib.import_module("assay.engine")
    data = [{"input": {"q": f"new {i}"}, "expected_output": f"new {i}"} for i in range(n)]
    calls, task = _timed_sleep(delay)

    start, cpu = time.perf_counter(), _cpu()
    result = assay.evaluate(
        data,
        task,
        [exact_match()],
        name="inline",
        concurrency=concurrency,
        settings=Settings(home=Path(home)),
        quiet=True,
    )
    end, cpu = time.perf_counter(), _cpu() - cpu
    if result.summary.completed != n:
        raise SystemExit(f"unexpected outcome: {result.summary}")
    ideal = concurrency / delay
    return {
        "items": n,
        "concurrency": concurrency,
        "seconds": round(end - start, 3),
        "of_ideal": round(n / (end - start) / ideal, 3),
        "first_call_s": round(calls[0] - start, 3),
        "after_last_call_s": round(end - calls[1], 3),
        "calls_of_ideal": round(n / (calls[1] - calls[0]) / ideal, 3),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def sleep(home: str, n: int, concurrency: int, delay: float = 0.05) -> dict[str, Any]:
    from assay.engine import RunOptions, plan
    from assay.sync import run_sync
    from assay.targets import FunctionTarget

    store = _store(Path(home))
    calls, task = _timed_sleep(delay)

    start = time.perf_counter()
    prepared = plan(
        store,
        dataset="bench",
        target=FunctionTarget(task),
        options=RunOptions(concurrency=concurrency),
        defer=True,
    )
    planned = time.perf_counter()
    process = prepared.runner._child is not None  # the writer process the plan started, if any
    experiment = run_sync(prepared.run())  # the loop `assay run` and evaluate() use
    end = time.perf_counter()
    summary = store.experiments.summary(experiment.id)
    if summary.completed != n:
        raise SystemExit(f"unexpected outcome: {summary}")
    ideal = concurrency / delay
    return {
        "items": n,
        "concurrency": concurrency,
        "writer": "process" if process else "thread",  # what the tree's default picks
        "seconds": round(end - start, 3),
        "items_per_s": round(n / (end - start)),
        "ideal_items_per_s": round(ideal),
        "of_ideal": round(n / (end - start) / ideal, 3),
        "plan_seconds": round(planned - start, 3),
        "first_call_s": round(calls[0] - start, 3),
        "after_last_call_s": round(end - calls[1], 3),
        "run_of_ideal": round(n / (end - planned) / ideal, 3),
        # between the first call's start and the last call's end: what the loop sustains
        "calls_of_ideal": round(n / (calls[1] - calls[0]) / ideal, 3),
        "p50_latency_ms": summary.p50_latency_ms,
        "p95_latency_ms": summary.p95_latency_ms,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def floor(n: int) -> dict[str, Any]:
    from _floor import floor as measure

    return measure(n)


def run(argv: list[str]) -> dict[str, Any]:
    """One workload, by name (``KIND HOME N [CONCURRENCY]``)."""
    kind, home = argv[0], argv[1]
    n = int(argv[2])
    if kind == "prepare":
        return prepare(home, n)
    if kind in ("zero", "zero-untraced"):
        return zero(home, n, traces=kind == "zero")
    if kind == "save":
        return save(home, n)
    if kind == "setup":
        return setup(home, n)
    if kind in ("memory", "memory-inline"):
        return memory(home, n, inline=kind == "memory-inline")
    if kind == "queued":
        return queued(home, n)
    if kind == "sleep":
        return sleep(home, n, int(argv[3]))
    if kind == "inline":
        return inline(home, n)
    if kind == "floor":
        return floor(n)
    if kind == "sleep-floor":
        from _floor import latency_run

        return latency_run(Path(home) / "assay.db", n, int(argv[3]))
    raise SystemExit(f"unknown workload {kind}")
