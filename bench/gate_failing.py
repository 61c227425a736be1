"""Listing the failing outcomes of a large gated run: every page of ``gate/items/`` filtered by
the client (all that could be done before ``only=failing``) against the pages of
``gate/items/?only=failing``.

One SQLite store under ``--home`` (built there when it holds no run yet, reused otherwise)
holds a run of ``--items`` items of which about 2 % fail, written through the bulk recording
path as ``bench/compare.py`` does. Two levels, each measured in rounds that alternate the two
ways (``--rounds``), wall and CPU seconds per way and round:

- ``api``: the REST API in process (``TestClient`` on ``create_app``), pages of 10,000;
- ``columns``: :class:`~assay.analysis.gate_items.GateOutcomes` of the run's frame,
  ``items()`` filtered against ``failing()``.

Prints the figures (best round of each way, their ratio, failing outcomes per CPU-second) and
writes ``bench/results/gate-failing-<items>.json``.

    PYTHONPATH=src python bench/gate_failing.py --items 1000000 --home /tmp/gate-failing
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from _compare_runs import rows_run  # bench/ is on sys.path when a script runs
from assay.analysis.service import gate_outcomes, gate_runs
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.store import Store, open_store

HERE = Path(__file__).resolve().parent
PAGE = 10_000
#: ``rows_run``'s pass probability for about 2 % of failing results.
P_PASS = 1.04


def ensure_run(store: Store, home: Path, items: int) -> str:
    ids = home / "run.json"
    if ids.exists():
        run_id: str = json.loads(ids.read_text())
        return run_id
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench",
        (
            ItemCreate(input={"k": k}, expected_output=f"answer {k} is forty-two")
            for k in range(items)
        ),
    )
    run_id = rows_run(store, "candidate", P_PASS, 3)
    ids.write_text(json.dumps(run_id))
    return run_id


def walk(http: TestClient, url: str, only: str | None) -> tuple[int, int]:
    """Every page of a listing, keeping the failing outcomes: (pages, failing outcomes)."""
    cursor, pages, failing = None, 0, 0
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if only is not None:
            params["only"] = only
        if cursor is not None:
            params["cursor"] = cursor
        response = http.get(url, params=params)
        response.raise_for_status()
        page = response.json()
        pages += 1
        failing += sum(1 for outcome in page["items"] if not outcome["passed"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages, failing


def rounds(ways: dict[str, Callable[[], tuple[int, int]]], count: int) -> dict[str, dict[str, Any]]:
    """Each way ``count`` times, alternating; the best round of each (its wall and CPU
    seconds) and what it returned."""
    best: dict[str, dict[str, Any]] = {}
    for r in range(count):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for name in order:
            wall, cpu = time.perf_counter(), time.process_time()
            pages, failing = ways[name]()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"  round {r + 1} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
            seen = best.get(name)
            if seen is None or cpu < seen["cpu_s"]:
                best[name] = {"wall_s": wall, "cpu_s": cpu, "pages": pages, "failing": failing}
    return best


def summary(best: dict[str, dict[str, Any]]) -> dict[str, Any]:
    before, after = best["every_page"], best["only_failing"]
    assert before["failing"] == after["failing"], (before, after)
    ratios = {  # of the unrounded figures: a small run's CPU rounds to 0
        "cpu_ratio": round(before["cpu_s"] / after["cpu_s"], 1),
        "wall_ratio": round(before["wall_s"] / after["wall_s"], 1),
    }
    for figures in best.values():
        figures["failing_per_cpu_s"] = round(figures["failing"] / figures["cpu_s"])
        figures["wall_s"] = round(figures["wall_s"], 3)
        figures["cpu_s"] = round(figures["cpu_s"], 3)
    return {**best, **ratios}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--home", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = Path(args.home or f"/tmp/assay-gate-failing-{args.items}")
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home, database_url=None, project="default")
    store = open_store(settings)
    start = time.perf_counter()
    run_id = ensure_run(store, home, args.items)
    print(f"store ready in {time.perf_counter() - start:.1f} s", flush=True)

    source = gate_outcomes(store, gate_runs(store, run_id))
    share = source.failing_total / source.total
    print(f"{source.total:,} outcomes, {source.failing_total:,} failing ({share:.1%})")
    figures: dict[str, Any] = {
        "items": source.total,
        "failing": source.failing_total,
        "page": PAGE,
        "rounds": args.rounds,
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    print("columns: items() filtered vs failing()")

    def filtered() -> tuple[int, int]:
        return 0, sum(1 for outcome in source.items() if not outcome.passed)

    def failing() -> tuple[int, int]:
        return 0, sum(1 for _ in source.failing())

    columns = rounds({"every_page": filtered, "only_failing": failing}, args.rounds)
    figures["columns"] = summary(columns)

    from assay.server import create_app

    app = create_app(settings)
    url = f"/api/v1/experiments/{run_id}/gate/items/"
    print(f"api: every page of gate/items/ vs ?only=failing ({PAGE:,} a page)")
    with TestClient(app) as http:
        best = rounds(
            {
                "every_page": lambda: walk(http, url, None),
                "only_failing": lambda: walk(http, url, "failing"),
            },
            args.rounds,
        )
    figures["api"] = summary(best)
    store.close()

    for level in ("columns", "api"):
        f = figures[level]
        b, a = f["every_page"], f["only_failing"]
        print(
            f"{level}: every page {b['cpu_s']:.2f} s CPU ({b['pages']} pages), only failing "
            f"{a['cpu_s']:.2f} s CPU ({a['pages']} pages): {f['cpu_ratio']}x less CPU, "
            f"{f['wall_ratio']}x less wall; {b['failing_per_cpu_s']:,} vs "
            f"{a['failing_per_cpu_s']:,} failing outcomes per CPU-second"
        )
    out = HERE / "results" / f"gate-failing-{args.items}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
