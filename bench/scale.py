"""Scale-out benchmark: items/s of the local executor and of Ray with 1, 2 and 4 workers.

Workloads, each run by the local executor (the baseline, in this process) and on a local Ray
cluster of separate processes (one node of four CPUs; ``k`` workers = ``k`` shards at once):

- ``io`` (2,000 items): a target that awaits 50 ms, concurrency 10 per runner (the local run:
  one runner), no scorer. Ray x1 should match the local run: the same runner, in a shard.
- ``cpu_python`` (400 items): an instant target and a pure-Python CPU-heavy scorer that holds
  the GIL, so the local run uses one core and each Ray worker adds one, up to the cores free.
- ``cpu_embeddings`` (400 items, with the ``embeddings`` extra): the ``semantic_similarity``
  scorer (all-MiniLM-L6-v2, one torch thread per call); torch releases the GIL, so the local
  run's scoring threads already use several cores.

Also: Ray's start-up cost (a cluster's ``ray start``, joining it, the first task) and the fixed
cost of a Ray run (one item), the first of a process (which starts its coordinator hub) and a
later one. The 1-minute load average is recorded around each workload. ``--size N`` adds a run
of N items on PostgreSQL on a two-node cluster whose worker node is SIGKILLed at 30 %, counting
that every (item, repetition) is stored exactly once. Figures are ratios to the local run
measured here, and CPU seconds (driver and every cluster process) per 1,000 items; this machine
is shared, so wall-clock items/s move with its load.

    python bench/scale.py                    # writes bench/results/scale.json
    python bench/scale.py --io-items 2000 --cpu-items 400 --size 100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "src")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import psutil  # noqa: E402
from tests.fakes.ray_cluster import LocalCluster  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"
PG_URL = os.environ.get(
    "ASSAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def python_cpu_scorer(output: Any) -> float:
    """A pure-Python CPU-heavy score: 2,000 rounds of SHA-256 over the output."""
    digest = str(output).encode()
    for _ in range(2000):
        digest = hashlib.sha256(digest).digest()
    return digest[0] / 255.0


def _embeddings() -> bool:
    from assay.scoring.embeddings import embeddings_available

    return bool(embeddings_available())


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def _measure(
    settings: Any,
    cluster: LocalCluster | None,
    data: list[Any],
    task: Any,
    scorers: list[Any],
    *,
    executor: str,
    shards: int | None = None,
    concurrency: int = 10,
) -> dict[str, Any]:
    import assay
    from assay.domain import DatasetCreate, ItemCreate
    from assay.engine import RunOptions
    from assay.scaleout.driver import on_ray
    from assay.service.experiments import prepare
    from assay.service.targets import as_target
    from assay.store import open_store
    from assay.sync import run_sync

    store = open_store(settings)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(name, [ItemCreate(**row) for row in data])
    prepared = prepare(
        store,
        as_target(task, store, settings),
        scorers,
        RunOptions(concurrency=concurrency),
        dataset=name,
    )
    if executor == "ray":
        prepared = on_ray(prepared, shards=shards)
    me = psutil.Process()
    procs = [me] + (cluster.processes() if cluster else [])
    cpu0 = _cpu_seconds(procs)
    t0 = time.perf_counter()
    experiment = run_sync(prepared.run())  # the loop `assay run` and evaluate() use
    wall = time.perf_counter() - t0
    procs = [me] + (cluster.processes() if cluster else [])
    cpu = _cpu_seconds(procs) - cpu0
    summary = store.experiments.summary(experiment.id)
    store.close()
    del assay
    return {
        "executor": executor if shards is None else f"ray x{shards}",
        "items": len(data),
        "completed": summary.completed,
        "seconds": round(wall, 3),
        "items_per_s": round(len(data) / wall, 1),
        "cpu_s_per_1000": round(cpu / len(data) * 1000, 3),
    }


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def workloads(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    import ray
    from tests.fakes.ray_tasks import paraphrase, wait_50ms

    from assay.config import Settings
    from assay.scoring import scorer

    settings = Settings(home=home, database_url=f"sqlite:///{home}/bench.db")
    size = max(args.io_items, args.cpu_items)
    data = [
        {"input": f"item {i}", "expected_output": f"the answer to item {i}"} for i in range(size)
    ]
    cpu_loads: list[tuple[str, str, list[Any]]] = [
        (
            "cpu_python",
            "pure Python, holds the GIL: 2,000 SHA-256 rounds per output",
            [scorer(python_cpu_scorer)()],
        )
    ]
    if _embeddings():  # the local baseline loads the model first, as the workers do
        import torch

        from assay.scoring.embeddings import cosine_similarities

        torch.set_num_threads(1)
        cosine_similarities("warm", ["up"])
        cpu_loads.append(
            (
                "cpu_embeddings",
                "semantic_similarity (all-MiniLM-L6-v2, one torch thread per call; the local "
                "run already uses several cores: torch releases the GIL in its scoring threads)",
                [{"type": "semantic_similarity"}],
            )
        )
    out: dict[str, Any] = {"cpu_scorers": {label: what for label, what, _ in cpu_loads}}
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    cluster = LocalCluster(workers=0, head_cpus=4, env=env)
    cluster.start()
    started = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        joined = time.perf_counter() - t1
        t2 = time.perf_counter()
        ray.get(ray.remote(lambda: 1).remote())
        first_task = time.perf_counter() - t2
        # The first Ray run of a process starts its coordinator hub (an actor: a process);
        # later runs reuse it.
        first = _measure(settings, cluster, data[:1], wait_50ms, [], executor="ray", shards=1)
        one = _measure(settings, cluster, data[:1], wait_50ms, [], executor="ray", shards=1)
        local_one = _measure(settings, None, data[:1], wait_50ms, [], executor="local")
        out["startup"] = {
            "ray_start_s": round(started, 2),
            "join_s": round(joined, 2),
            "first_task_s": round(first_task, 2),
            "one_item_run_s": {
                "ray_first_run_of_process": first["seconds"],
                "ray": one["seconds"],
                "local": local_one["seconds"],
            },
        }
        plan = [("io", args.io_items, wait_50ms, [])] + [
            (label, args.cpu_items, paraphrase, scorers) for label, _, scorers in cpu_loads
        ]
        for label, n, task, scorers in plan:
            # A warm-up run per workload: the workers load Assay (and the model) once.
            _measure(settings, cluster, data[: min(40, n)], task, scorers, executor="ray", shards=4)
            before = _load()
            base = _measure(settings, None, data[:n], task, scorers, executor="local")
            runs = [base]
            for k in (1, 2, 4):
                runs.append(
                    _measure(settings, cluster, data[:n], task, scorers, executor="ray", shards=k)
                )
            for run in runs:
                run["vs_local"] = round(run["items_per_s"] / base["items_per_s"], 2)
            by = {r["executor"]: r["items_per_s"] for r in runs}
            out[label] = {
                "runs": runs,
                "speedup_vs_ray_x1": {k: round(by[f"ray x{k}"] / by["ray x1"], 2) for k in (2, 4)},
                "load_average_1min": {"before": before, "after": _load()},
            }
            print(label, json.dumps(out[label], indent=1))
    finally:
        ray.shutdown()
        cluster.stop()
    return out


def size_run(n: int) -> dict[str, Any]:
    """``n`` items on PostgreSQL, a two-node cluster, the worker node SIGKILLed at 30 %."""
    import ray
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from tests.fakes.ray_tasks import paraphrase

    from assay.config import Settings
    from assay.store import Database
    from assay.store.migrate import upgrade

    name = f"assay_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db)
    cluster = LocalCluster(workers=0, head_cpus=1)
    cluster.start()
    out: dict[str, Any] = {"items": n}
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        cluster.add_node()
        from assay.domain import DatasetCreate, ItemCreate
        from assay.engine import RunOptions
        from assay.scaleout.driver import on_ray
        from assay.service.experiments import prepare
        from assay.service.targets import as_target
        from assay.store import open_store
        from assay.sync import run_sync

        settings = Settings(home=Path(tempfile.mkdtemp()), database_url=url)
        store = open_store(settings)
        store.datasets.create(DatasetCreate(name="scale"))
        store.datasets.add_items(
            "scale",
            (
                ItemCreate(input=f"item {i}", expected_output=f"the answer to item {i}")
                for i in range(n)
            ),
        )
        from assay.scorers import exact_match

        prepared = on_ray(
            prepare(
                store,
                as_target(paraphrase, store, settings),
                [exact_match()],
                RunOptions(concurrency=10),
                dataset="scale",
            ),
            shards=16,
        )
        runner = prepared.runner
        killed: dict[str, Any] = {}

        def kill() -> None:
            while runner.progress.done < n * 0.3:
                time.sleep(0.05)
            killed["at_done"] = runner.progress.done
            killed["processes"] = cluster.kill_node(-1)

        threading.Thread(target=kill, daemon=True).start()
        t0 = time.perf_counter()
        experiment = run_sync(prepared.run())  # the loop `assay run` and evaluate() use
        wall = time.perf_counter() - t0
        with db.read() as conn:
            row = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT (item_id, repetition)), "
                    "sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) FROM results "
                    "WHERE experiment_id = :e"
                ),
                {"e": experiment.id},
            ).one()
            scores = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT result_id) FROM scores "
                    "WHERE experiment_id = :e"
                ),
                {"e": experiment.id},
            ).one()
        out |= {
            "status": experiment.status.value,
            "seconds": round(wall, 1),
            "items_per_s": round(n / wall, 1),
            "killed": killed,
            "shard_attempts": runner.attempts,  # type: ignore[attr-defined]
            "results": row[0],
            "distinct_item_repetitions": row[1],
            "completed": row[2],
            "scores": scores[0],
            "results_with_scores": scores[1],
            "exactly_once": row[0] == row[1] == row[2] == n and scores[0] == scores[1] == n,
            "load_average_1min": _load(),
        }
        store.close()
    finally:
        ray.shutdown()
        cluster.stop()
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print("size", json.dumps(out, indent=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--io-items", type=int, default=2000, help="items of the I/O-bound run")
    parser.add_argument("--cpu-items", type=int, default=400, help="items of the CPU-bound runs")
    parser.add_argument(
        "--size",
        type=int,
        default=0,
        help="add a PostgreSQL run of this many items with a killed node",
    )
    parser.add_argument(
        "--skip-workloads",
        action="store_true",
        help="only the --size run, added to the figures already in the JSON",
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="assay-scale-"))
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min_at_start": _load(),
        },
        "note": (
            "one shared machine: Ray workers, the driver and the database share its cores; "
            "I/O-bound runs scale with shards (each waits), CPU-bound ones flatten at the "
            "core count"
        ),
    }
    if args.skip_workloads and RESULTS.exists():
        result = json.loads(RESULTS.read_text())
    else:
        result |= workloads(args, home)
    if args.size:
        result["size_run"] = size_run(args.size)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
