"""Benchmark: what each poll of a live run page costs, against the whole page.

    python bench/run_page.py                 # 5,000 results, SQLite
    python bench/run_page.py --items 20000

Plans a run over a fresh SQLite dataset and records every result, then serves the dashboard in
process (FastAPI's TestClient, so the CPU time measured is the server's work) and times, in CPU
seconds per request, the fragments a live run page polls — the progress bar (counts by status),
a runs table's status cell, the results page (50 rows) and the summary (scans every result) —
and the full page. Figures are ratios to the progress poll, measured in the same run, so they
hold on a loaded machine. Prints them and writes ``bench/results/run_page.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.scorers import exact_match
from assay.server import create_app
from assay.store import open_store

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HX = {"HX-Request": "true"}


def cpu_per_request(http: TestClient, url: str, headers: dict[str, str], repeat: int) -> float:
    http.get(url, headers=headers).raise_for_status()  # warm
    start = time.process_time()
    for _ in range(repeat):
        http.get(url, headers=headers).raise_for_status()
    return (time.process_time() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), auth="none", serve_worker=False)
        store = open_store(settings)
        store.datasets.create(DatasetCreate(name="bench"))
        items = [
            ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(args.items)
        ]
        store.datasets.add_items("bench", items)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = assay.evaluate("bench", lambda x: x["q"].upper(), [exact_match()], store=store)
        store.close()
        app = create_app(settings)
        polls = {
            "progress": (f"/runs/{run.id}/progress", HX),
            "status_cell": (f"/runs/{run.id}/status-cell", HX),
            "results_page": (f"/runs/{run.id}", {**HX, "HX-Target": "results"}),
            "summary": (f"/runs/{run.id}", {**HX, "HX-Target": "run-summary"}),
            "full_page": (f"/runs/{run.id}", {}),
        }
        with TestClient(app) as http:
            cpu = {k: cpu_per_request(http, u, h, args.repeat) for k, (u, h) in polls.items()}
        app.state.assay.db.dispose()
    base = cpu["progress"]
    figures: dict[str, Any] = {
        "items": args.items,
        "cpu_ms_per_request": {k: round(v * 1000, 2) for k, v in cpu.items()},
        "ratio_to_progress": {k: round(v / base, 2) for k, v in cpu.items()},
        "machine": platform.machine(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"run page polls over {args.items:,} results (CPU per request, ratio to progress):")
    for key, value in cpu.items():
        print(f"  {key:<13} {value * 1000:8.2f} ms   x{value / base:6.2f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "run_page.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
