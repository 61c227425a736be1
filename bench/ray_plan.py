"""Planning a Ray run: what the driver does before its first shard leaves, over N items.

A Ray run planned by its driver (``evaluate(..., executor="ray")``, ``assay run --executor
ray``) is ``prepare()`` (the dataset version pinned, the plan's ids drawn) followed, in
``RayRunner.run``, by the plan's commit and the reading of the work the shards are cut from.
This times each (``plan_s``, ``commit_s``; ``first_shard_s`` from the commit to the first
shard's ``task.remote``; ``total_s`` from ``prepare()`` to it; ``all_sent_s`` from
``prepare()`` to the last shard's), in a fresh interpreter per measurement, on a copy of one
store holding an N-item dataset (a new SQLite file, or a PostgreSQL database made from a
template), with the driver's own code: Ray's ``remote`` and ``cluster_resources`` are stubbed
(a cluster of ``--cpus`` CPUs: two shards per CPU), a shard's submission is noted and returns
nothing, and the driver is stopped where it would start following its shards. Joining the
cluster and starting the coordinator are left out (they cost the same whatever the plan, see
``bench/scale.py``), so no Ray cluster is needed.

With ``--baseline TREE`` (another checkout) both trees run alternately, ``--rounds`` times on
each database, and each round prints this tree's time over the baseline's.

    python bench/ray_plan.py --items 100000 --baseline /path/to/base --rounds 3 \
        --out bench/results/ray_plan.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SRC = ROOT / "src"
PG_URL = os.environ.get(
    "ASSAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PROJECT = "bench"


class _Following(BaseException):
    """Raised where the driver would start following its shards: the measurement ends there
    (not an ``Exception``: the driver would take that for a failed submission)."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Hub:
    """The coordinator hub, stubbed: ``await hub.open.remote(...)`` does nothing."""

    class _Open:
        async def remote(self, *args: Any) -> None:
            return None

    open = _Open()


def measure(url: str, home: str, cpus: int) -> dict[str, Any]:
    """In this process (Assay from ``PYTHONPATH``): plan and commit one Ray run over the
    dataset ``bench`` of the store at ``url``, up to the submission of its shards."""
    import ray
    from sqlalchemy import func, select
    from tests.fakes.ray_tasks import shout

    import assay.scaleout.driver as driver
    from assay.config import Settings
    from assay.engine import RunOptions
    from assay.scorers import exact_match
    from assay.service.experiments import prepare
    from assay.service.targets import as_target
    from assay.store import open_store
    from assay.store.experiment_plans import PlannedRun
    from assay.store.tables import results

    seen: dict[str, Any] = {"sent": []}
    commit = PlannedRun.commit

    def timed_commit(self: PlannedRun, **kwargs: Any) -> None:
        started = time.perf_counter()
        commit(self, **kwargs)
        seen["committed"] = time.perf_counter()
        seen["commit_s"] = seen["committed"] - started

    class Task:
        def remote(self, spec: Any) -> None:
            if not seen["sent"]:
                seen["first"], seen["cpu"] = time.perf_counter(), _cpu()
            seen["sent"].append(len(spec.work))

    async def follow(self: Any, experiment_id: str, refs: list[Any], *, writes: bool) -> None:
        seen["all"] = time.perf_counter()
        raise _Following

    driver.connect = lambda *args: None  # type: ignore[assignment]
    driver.hub_for_this_process = _Hub  # type: ignore[assignment]
    ray.cluster_resources = lambda: {"CPU": float(cpus)}
    ray.remote = lambda *args, **kwargs: lambda function: Task()
    driver.RayRunner._follow = follow  # type: ignore[method-assign]
    PlannedRun.commit = timed_commit  # type: ignore[method-assign]

    settings = Settings(home=Path(home), database_url=url, project=PROJECT)
    store = open_store(settings)
    target = as_target(shout, store, settings)
    t0, c0 = time.perf_counter(), _cpu()
    prepared = prepare(store, target, [exact_match()], RunOptions(), dataset="bench")
    t1, c1 = time.perf_counter(), _cpu()
    placed = driver.on_ray(prepared)
    with contextlib.suppress(_Following):
        asyncio.run(placed.run())
    with store.db.read() as conn:
        rows = conn.execute(
            select(func.count()).where(results.c.experiment_id == placed.experiment.id)
        ).scalar_one()
    store.close()
    return {
        "plan_s": round(t1 - t0, 3),
        "commit_s": round(seen["commit_s"], 3),
        "first_shard_s": round(seen["first"] - seen["committed"], 3),
        "total_s": round(seen["first"] - t0, 3),
        "all_sent_s": round(seen["all"] - t0, 3),
        "cpu_s": round(seen["cpu"] - c0, 3),
        "plan_cpu_s": round(c1 - c0, 3),
        "work": sum(seen["sent"]),
        "shards": len(seen["sent"]),
        "first_part": seen["sent"][0],
        "result_rows_at_submit": rows,
    }


def _fill(url: str, home: Path, n: int) -> None:
    from assay.config import Settings
    from assay.domain import DatasetCreate, ItemCreate
    from assay.store import open_store

    store = open_store(Settings(home=home, database_url=url, project=PROJECT))
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench", (ItemCreate(input=f"item {i}", expected_output=f"ITEM {i}") for i in range(n))
    )
    store.close()


def _child(src: Path, url: str, home: Path, cpus: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(home), str(cpus)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class SqliteCopies:
    def __init__(self, n: int, work: Path) -> None:
        self.work = work
        self.template = work / "template.db"
        _fill(f"sqlite:///{self.template}", work / "home", n)

    def fresh(self) -> str:
        path = self.work / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def close(self) -> None:
        pass


class PostgresCopies:
    def __init__(self, n: int, work: Path) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        from assay.store import Database
        from assay.store.migrate import upgrade

        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        self.url = make_url(PG_URL)
        self.names: list[str] = []
        self.template = self._create("")
        db = Database(self._url(self.template))
        upgrade(db)
        db.dispose()
        _fill(self._url(self.template), work / "home", n)

    def _url(self, name: str) -> str:
        return str(self.url.set(database=name).render_as_string(hide_password=False))

    def _create(self, template: str) -> str:
        name = f"assay_ray_plan_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{suffix}')
        self.names.append(name)
        return name

    def fresh(self) -> str:
        """A copy of the template, its items read once as a plan reads them (a store in use
        has its dataset in cache; a database just copied has nothing in the server's buffers)."""
        from sqlalchemy import select

        from assay.store import Database
        from assay.store.planning import item_pages
        from assay.store.tables import datasets

        url = self._url(self._create(self.template))
        db = Database(url)
        with db.read() as conn:
            dataset_id, version = conn.execute(select(datasets.c.id, datasets.c.version)).one()
        for _ in item_pages(db, dataset_id, version):
            pass
        db.dispose()
        return url

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--baseline", type=Path, help="Another checkout to compare against.")
    parser.add_argument("--out", type=Path, help="Where to write the figures (JSON).")
    parser.add_argument("--cpus", type=int, default=4, help="The cluster's CPUs (shards: 2 each).")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        url, home, cpus = args.child
        print(json.dumps(measure(url, home, int(cpus))))
        return
    trees = {"this": SRC}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve() / "src", "this": SRC}
    kinds = ["sqlite", "postgresql"] if args.db == "all" else [args.db]
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_before": os.getloadavg(),
        "items": args.items,
        "cpus": args.cpus,
        "trees": {k: str(v) for k, v in trees.items()},
    }
    work = Path(tempfile.mkdtemp(prefix="assay-ray-plan-"))
    try:
        for kind in kinds:
            copies = SqliteCopies(args.items, work) if kind == "sqlite" else None
            copies = copies or PostgresCopies(args.items, work)
            try:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
                for k in range(args.rounds):
                    for name, src in trees.items():
                        home = work / f"home-{uuid.uuid4().hex}"
                        got = _child(src, copies.fresh(), home, args.cpus)
                        runs[name].append(got)
                        print(f"{kind} round {k + 1} {name}: {got}", flush=True)
                    if len(trees) == 2:
                        base, this = runs["baseline"][-1], runs["this"][-1]
                        for key in ("total_s", "all_sent_s"):
                            print(f"  {key}, this / baseline: {this[key] / base[key]:.2f}")
                report[kind] = runs
                for name, rs in runs.items():
                    for key in ("plan_s", "commit_s", "first_shard_s", "total_s", "all_sent_s"):
                        median = statistics.median(r[key] for r in rs)
                        print(f"{kind} {name} median {key}: {median:.3f}")
            finally:
                copies.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
