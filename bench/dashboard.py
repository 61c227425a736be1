"""Dashboard pages of 100,000-result runs over HTTP: time to first byte and total load time.

Builds, in a fresh SQLite home, a dataset of ``--items`` items and two runs of it with a
numeric and a pass/fail score each (written through the store's bulk recording path, as
``bench/compare.py`` does, and each stored with its snapshot as the engine does when a run
ends), starts a real ``assay serve`` on it and fetches, with httpx:

* the run page (summary, distributions, the first 50 results),
* the results sorted by latency (descending) and by a score, and their second page,
* a search inside the run (a substring of one item's input),
* the comparison page of the two runs (statistics, charts, the first 50 items).

Each page is fetched ``--repeat`` times after a first view; the best wall time to first byte
and to the last byte are printed with the server's CPU time per request (from /proc), and as
a ratio to ``/health`` measured in the same run. The first view (nothing of the page cached
yet, e.g. after a restart or a change to the run) is printed apart. Writes
``bench/results/dashboard.json``.

With ``--against ../main/src`` the same pages are also served by another checkout, on a copy
of the same data, each fetch alternating between the two servers so that both see the same
load; the JSON then holds both sets of figures and their CPU ratios.

    PYTHONPATH=src python bench/dashboard.py [--items 100000] [--repeat 3] [--against DIR]
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _server import start_server  # bench/ is on sys.path when a script runs
from assay.config import Settings
from assay.domain import DatasetCreate, ExperimentCreate, ExperimentStatus, ItemCreate
from assay.engine.snapshot import store_snapshot
from assay.store import Database, Store, open_store
from assay.store.migrate import current_revision, downgrade
from assay.store.recording import Rows

OUT = Path(__file__).parent / "results" / "dashboard.json"
TICK = os.sysconf("SC_CLK_TCK")


def _run(store: Store, name: str, items: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    planned = store.experiments.prepare(
        ExperimentCreate(name=name, dataset="bench", scorers=[{"name": "exact_match"}])
    )
    planned.commit()
    passed = (rng.random(items) < 0.7).tolist()
    latency = rng.gamma(2.0, 400.0, items).tolist()
    quality = rng.random(items).tolist()
    cost = (rng.random(items) * 0.001).tolist()
    now = datetime.now(UTC)
    results, scores = [], []
    for k, w in enumerate(planned.work):
        ok = passed[k]
        output = f"answer {k} is {'forty-two' if ok else 'forty two'} " + "lorem ipsum " * 8
        results.append(
            ("completed", output, None, latency[k], 100, 20, cost[k], 1, ok, now, now,
             w.result_id, None)
        )  # fmt: skip
        scores.append(
            (w.result_id, "exact_match", "boolean", float(ok), None, ok, None, "evaluator",
             None, None, None, None, None, None, {})
        )  # fmt: skip
        scores.append(
            (w.result_id, "quality", "numeric", quality[k], None, None, "judged", "evaluator",
             None, None, None, None, None, None, {})
        )  # fmt: skip
    store.experiments.record_rows(planned.experiment.id, Rows(results, scores))
    store.experiments.finish(planned.experiment.id, ExperimentStatus.completed, None)
    store_snapshot(store, planned.experiment.id)  # as the engine does when a run ends
    return planned.experiment.id


def build(home: Path, items: int) -> tuple[str, str, str]:
    """The two runs' ids and a cursor for the second page sorted by latency."""
    store = open_store(Settings(home=home, auth="none"))
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench",
        (
            ItemCreate(
                input={"question": f"case {k}: what is six times seven?"},
                expected_output=f"answer {k}",
            )
            for k in range(items)
        ),
    )
    a, b = _run(store, "main", items, 1), _run(store, "feature", items, 2)
    cursor = store.experiments.result_table(a, sort="-latency").next_cursor or ""
    store.close()
    return a, b, cursor


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def fetch(http: httpx.Client, url: str) -> tuple[float, float, int]:
    start = time.perf_counter()
    with http.stream("GET", url) as response:
        response.raise_for_status()
        chunks = response.iter_bytes()
        first = next(chunks, b"")
        ttfb = time.perf_counter() - start
        size = len(first) + sum(len(c) for c in chunks)
    return ttfb, time.perf_counter() - start, size


class Server:
    """One ``assay serve`` and what it cost per page."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.proc, base = start_server(env, log)
        self.http = httpx.Client(base_url=base, timeout=120)

    def timed(self, url: str) -> tuple[float, float, float, int]:
        """ttfb, total, server CPU and size of one fetch."""
        cpu0 = cpu_seconds(self.proc.pid)
        ttfb, total, size = fetch(self.http, url)
        return ttfb, total, cpu_seconds(self.proc.pid) - cpu0, size

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measure(servers: list[Server], url: str, repeat: int) -> list[dict[str, Any]]:
    """Each server's figures for ``url``, its fetches taken in turn with the other servers'."""
    firsts = [s.timed(url) for s in servers]  # the first view: nothing of the page computed yet
    runs: list[list[tuple[float, float, float, int]]] = [[] for _ in servers]
    for _ in range(repeat):
        for k, s in enumerate(servers):
            runs[k].append(s.timed(url))
    return [
        {
            "ttfb_s": min(r[0] for r in got),
            "total_s": min(r[1] for r in got),
            "server_cpu_s": sum(r[2] for r in got) / repeat,
            "first_total_s": first[1],
            "first_server_cpu_s": first[2],
            "bytes": got[-1][3],
        }
        for first, got in zip(firsts, runs, strict=True)
    ]


def _head_of(src: Path) -> str:
    """The newest schema revision of the checkout whose ``src`` directory this is."""
    code = "from assay.store.migrate import scripted_head; print(scripted_head())"
    env = {**os.environ, "PYTHONPATH": str(src)}
    found = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def _copy_at(home: Path, target: Path, revision: str) -> None:
    """A copy of ``home``'s database, its schema taken back to ``revision``."""
    target.mkdir()
    for path in home.glob("assay.db*"):
        shutil.copy2(path, target / path.name)
    db = Database(f"sqlite:///{target / 'assay.db'}")
    try:
        if current_revision(db) != revision:
            downgrade(db, revision)
    finally:
        db.dispose()


def _table(title: str, figures: dict[str, dict[str, Any]]) -> None:
    health = figures["health"]["total_s"] or 1e-9
    print(title)
    print(
        f"  {'page':<26}{'ttfb':>9}{'total':>9}{'server CPU':>12}{'x health':>10}{'KiB':>8}"
        f"{'first view':>12}{'its CPU':>10}"
    )
    for key, f in figures.items():
        print(
            f"  {key:<26}{f['ttfb_s'] * 1000:7.0f} ms{f['total_s'] * 1000:7.0f} ms"
            f"{f['server_cpu_s'] * 1000:9.0f} ms{f['total_s'] / health:10.0f}"
            f"{f['bytes'] / 1024:8.0f}{f['first_total_s'] * 1000:9.0f} ms"
            f"{f['first_server_cpu_s'] * 1000:7.0f} ms"
        )


def _rounded(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    health = figures["health"]["total_s"] or 1e-9
    return {
        k: {m: round(v, 4) if isinstance(v, float) else v for m, v in f.items()}
        | {"ratio_to_health": round(f["total_s"] / health, 1), "under_1s": f["total_s"] < 1.0}
        for k, f in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--against",
        type=Path,
        help="the src directory of another checkout (e.g. the main branch): its server runs "
        "on a copy of the same data and every fetch alternates between the two servers",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "this"
        home.mkdir()
        started = time.perf_counter()
        a, b, cursor = build(home, args.items)
        built = time.perf_counter() - started
        homes = [(home, os.environ.get("PYTHONPATH", ""))]
        if args.against is not None:
            other = Path(tmp) / "against"
            _copy_at(home, other, _head_of(args.against.resolve()))
            homes.append((other, str(args.against.resolve())))
        servers: list[Server] = []
        pages = {
            "health": "/health",
            "run_page": f"/runs/{a}",
            "sorted_by_latency": f"/runs/{a}?sort=-latency",
            "sorted_by_latency_page_2": f"/runs/{a}?sort=-latency&cursor={cursor}",
            "sorted_by_score": f"/runs/{a}?sort=score:quality",
            "search_in_run": f"/runs/{a}?q=case+76543:",
            "compare_page": f"/compare?runs={a}&runs={b}",
        }
        try:
            for where, path in homes:
                env = {
                    **os.environ,
                    "ASSAY_HOME": str(where),
                    "ASSAY_AUTH": "none",
                    "PYTHONPATH": path,
                }
                servers.append(Server(env, where / "serve.log"))
            measured = {k: measure(servers, u, args.repeat) for k, u in pages.items()}
        finally:
            for server in servers:
                server.stop()
    figures = {k: m[0] for k, m in measured.items()}
    _table(
        f"dashboard pages over two runs of {args.items:,} results (built in {built:.0f} s):",
        figures,
    )
    result: dict[str, Any] = {
        "items": args.items,
        "repeat": args.repeat,
        "build_s": round(built, 1),
        "pages": _rounded(figures),
    }
    if args.against is not None:
        baseline = {k: m[1] for k, m in measured.items()}
        _table(f"the same pages served by {args.against} (fetched in turn):", baseline)
        print("server CPU per request, this / that:")
        for key in pages:
            if key != "health":
                ratio = figures[key]["server_cpu_s"] / max(baseline[key]["server_cpu_s"], 1e-9)
                print(f"  {key:<26}{ratio:8.3f}")
        result["against"] = {"src": str(args.against), "pages": _rounded(baseline)}
        result["cpu_ratio_to_against"] = {
            k: round(figures[k]["server_cpu_s"] / max(baseline[k]["server_cpu_s"], 1e-9), 3)
            for k in pages
            if k != "health"
        }
    result |= {
        "load_average": os.getloadavg(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
