"""Benchmark: the REST API of a real ``assay serve`` process, over HTTP on loopback.

    python bench/api.py                          # 100,000 items, SQLite
    python bench/api.py --items 20000 --db postgresql

Starts the server in a subprocess on a free port with a fresh database (SQLite in a temporary
directory, or a fresh project on PostgreSQL), then measures with one keep-alive client:

- bulk import through ``POST /datasets/{id}/import/`` (JSON batches of 5,000): items/s;
- single-item creation ``POST /items/``: p50/p95 latency;
- listing items (50 per page): p50/p95 of the first page and of a page 90% deep (cursor);
- trace ingestion ``POST /traces/`` (batches of 100 traces with 3 observations each): traces/s;
- result ingestion ``POST /dataset-runs/{id}/items/`` (batches of 5,000 uploaded outputs, one
  per dataset item): items/s; then listing that run's results (50 per page) through
  ``GET /experiments/{id}/results/?include_summary=false``: p50/p95 of the first page and of a
  page 90% deep (and of the first page with the full summary, which scans every result);
- creating an experiment over every item ``POST /experiments/`` (an HTTP target): p50/p95, and
  the first results page of such a queued run; then a queued run over the first
  ``--run-items`` items executed by the server's worker against a zero-latency HTTP target in
  this process: items/s, and items per CPU-second of the server process.

Prints the figures and writes ``bench/results/api-<database>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from _server import start_server  # bench/ is on sys.path when a script runs

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
BATCH = 5_000


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "n": len(ordered)}


def timed(fn: Callable[[], httpx.Response], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = fn()
        out.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return out


def item(n: int) -> dict[str, Any]:
    return {
        "input": {"query": f"How do I change my billing settings for account {n:07d}?"},
        "expected_output": {"answer": f"Open Settings > Billing (case {n:07d})"},
        "metadata": {"category": "billing"},
        "tags": ["faq"],
    }


def run(base: str, items: int, run_items: int, server_pid: int) -> dict[str, Any]:
    api = f"{base}/api/v1"
    figures: dict[str, Any] = {}
    with httpx.Client(timeout=300) as http:
        dataset = http.post(f"{api}/datasets/", json={"name": f"bench-{uuid.uuid4().hex}"})
        dataset.raise_for_status()
        dataset_id = dataset.json()["id"]

        start = time.perf_counter()
        for first in range(0, items, BATCH):
            batch = [item(n) for n in range(first, min(first + BATCH, items))]
            http.post(
                f"{api}/datasets/{dataset_id}/import/", json={"items": batch}
            ).raise_for_status()
        elapsed = time.perf_counter() - start
        figures["import_items_per_s"] = round(items / elapsed)

        figures["create_item"] = percentiles(
            timed(lambda: http.post(f"{api}/datasets/{dataset_id}/items/", json=item(-1)), 200)
        )

        url = f"{api}/datasets/{dataset_id}/items/"
        figures["list_items_first_page"] = percentiles(
            timed(lambda: http.get(url, params={"limit": 50}), 200)
        )
        # Walk to a page 90% deep with large pages, then time that cursor with pages of 50.
        cursor, seen = None, 0
        while seen < items * 0.9:
            page = http.get(url, params={"limit": 1000, "cursor": cursor}).json()
            seen += len(page["items"])
            cursor = page["next_cursor"]
        figures["list_items_deep_page"] = percentiles(
            timed(lambda: http.get(url, params={"limit": 50, "cursor": cursor}), 200)
        )
        figures["list_items_deep_page"]["offset"] = seen

        traces = 0
        start = time.perf_counter()
        for b in range(20):
            batch = [
                {
                    "id": f"bench-{uuid.uuid4().hex}",
                    "name": "support-agent",
                    "input": {"query": f"q{b}-{t}"},
                    "output": {"answer": "a"},
                    "observations": [
                        {"type": "span", "name": "pipeline"},
                        {"type": "generation", "model": "gpt-4o-mini", "tokens_in": 100},
                        {"type": "tool", "name": "search"},
                    ],
                }
                for t in range(100)
            ]
            http.post(f"{api}/traces/", json={"traces": batch}).raise_for_status()
            traces += len(batch)
        figures["trace_ingest_per_s"] = round(traces / (time.perf_counter() - start))
        figures.update(results_figures(http, api, dataset_id, items))
        figures.update(experiment_figures(http, api, dataset_id, items, run_items, server_pid))
        http.delete(f"{api}/datasets/{dataset_id}/").raise_for_status()
    return figures


class _Instant(BaseHTTPRequestHandler):
    """A target that answers every POST at once."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"answer": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def experiment_figures(
    http: httpx.Client, api: str, dataset_id: str, items: int, run_items: int, server_pid: int
) -> dict[str, Any]:
    """Create experiments over the whole dataset, then run one over ``run_items`` items."""
    figures: dict[str, Any] = {}
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Instant)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    config = {"type": "http", "url": f"http://127.0.0.1:{target.server_port}/"}
    body = {"name": "bench-queued", "dataset_id": dataset_id, "config": config}
    created: list[str] = []

    def create() -> httpx.Response:
        response = http.post(f"{api}/experiments/", json=body)
        created.append(response.json()["id"])
        return response

    figures["create_experiment"] = percentiles(timed(create, 10))
    detail = http.get(f"{api}/experiments/{created[0]}/", params={"runs_limit": 0}).json()
    figures["create_experiment"]["planned"] = detail["summary"]["total"]
    url = f"{api}/experiments/{created[0]}/results/"
    figures["list_queued_results_first_page"] = percentiles(
        timed(lambda: http.get(url, params={"limit": 50, "include_summary": False}), 50)
    )
    for run_id in created:
        http.delete(f"{api}/experiments/{run_id}/").raise_for_status()

    run_items = min(run_items, items)
    selected = {**body, "concurrency": 16, "selection": {"first": run_items}}
    run_id = http.post(f"{api}/experiments/", json=selected).json()["id"]
    before, start = cpu_seconds(server_pid), time.perf_counter()
    started = http.post(f"{api}/experiments/{run_id}/start/", headers={"X-Assay-Client": "bench"})
    started.raise_for_status()
    while True:
        detail = http.get(f"{api}/experiments/{run_id}/", params={"runs_limit": 0}).json()
        if detail["status"] not in ("pending", "running", "scoring"):
            break
        time.sleep(0.2)
    elapsed, spent = time.perf_counter() - start, cpu_seconds(server_pid) - before
    target.shutdown()
    completed = detail["summary"]["completed"]
    if completed != run_items:
        raise SystemExit(f"the queued run completed {completed} of {run_items} results")
    figures["queued_run"] = {
        "items": run_items,
        "items_per_s": round(run_items / elapsed),
        "items_per_server_cpu_s": round(run_items / spent),
    }
    http.delete(f"{api}/experiments/{run_id}/").raise_for_status()
    return figures


def results_figures(http: httpx.Client, api: str, dataset_id: str, items: int) -> dict[str, Any]:
    """Upload one output per item into a dataset run, then page through its results."""
    figures: dict[str, Any] = {}
    ids: list[str] = []
    cursor = None
    url = f"{api}/datasets/{dataset_id}/items/"
    while True:
        page = http.get(url, params={"limit": 1000, "cursor": cursor}).json()
        ids.extend(i["id"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    run = http.post(f"{api}/dataset-runs/", json={"datasetName": dataset_id, "name": "bench-run"})
    run.raise_for_status()
    run_id = run.json()["id"]
    start = time.perf_counter()
    for first in range(0, len(ids), BATCH):
        batch = [
            {
                "datasetItemId": item_id,
                "output": f"Open Settings > Billing ({n:07d})",
                "latencyMs": 900.0 + n % 400,
                "cost": 0.0002,
                "traceId": f"trace-{n}",
            }
            for n, item_id in enumerate(ids[first : first + BATCH], start=first)
        ]
        http.post(f"{api}/dataset-runs/{run_id}/items/", json={"items": batch}).raise_for_status()
    figures["result_ingest_per_s"] = round(len(ids) / (time.perf_counter() - start))
    figures["results"] = len(ids)

    url = f"{api}/experiments/{run_id}/results/"
    lean = {"include_summary": False}
    figures["list_results_first_page_with_summary"] = percentiles(
        timed(lambda: http.get(url, params={"limit": 50}), 50)
    )
    figures["list_results_first_page"] = percentiles(
        timed(lambda: http.get(url, params={"limit": 50, **lean}), 200)
    )
    cursor, seen = None, 0
    while seen < len(ids) * 0.9:
        page = http.get(url, params={"limit": 1000, "cursor": cursor, **lean}).json()
        seen += len(page["results"])
        cursor = page["next_cursor"]
    figures["list_results_deep_page"] = percentiles(
        timed(lambda: http.get(url, params={"limit": 50, "cursor": cursor, **lean}), 200)
    )
    figures["list_results_deep_page"]["offset"] = seen
    http.delete(f"{api}/experiments/{run_id}/").raise_for_status()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--run-items", type=int, default=10_000, help="items of the queued run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ASSAY_HOME": tmp, "ASSAY_AUTH": "none"}
        env["ASSAY_OUTBOUND_ALLOW"] = "127.0.0.1"  # the queued run's target, in this process
        env["ASSAY_PROJECT"] = f"bench-{uuid.uuid4().hex[:8]}"
        if args.db == "postgresql":
            env["ASSAY_DATABASE_URL"] = os.environ.get("ASSAY_TEST_POSTGRES_URL", DEFAULT_PG_URL)
        else:
            env.pop("ASSAY_DATABASE_URL", None)
        proc, base = start_server(env, Path(tmp) / "server.log")
        try:
            figures = run(base, args.items, args.run_items, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    result = {
        "benchmark": "api",
        "database": args.db,
        "items": args.items,
        "figures": figures,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"api-{args.db}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
