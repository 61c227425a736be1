"""Benchmark: online-evaluation lag, from a trace's ingestion to its online score being stored.

    python bench/online.py                      # 1,000 traces, SQLite, settle 0.5 s
    python bench/online.py --traces 300 --database-url postgresql+psycopg://…/db

A real ``assay serve`` (its in-process worker on, polling every 0.2 s) gets one enabled rule
with a deterministic evaluator (``contains``); the SDK then sends a burst of traces in batches
of 100 as fast as the server takes them. Each trace's lag is its score's ``created_at`` minus
the trace's ``created_at`` (both stamped by the server), so the figure includes the settle time
the worker waits on purpose; ``beyond settle`` subtracts it.

On this shared 2-core machine wall times move with the load, so the figures that compare are
ratios measured in the same run and CPU times:

- the burst's ingestion wall time (the baseline) and the time from the burst's end to the last
  score, as a ratio;
- the server process's CPU time per trace while ingesting and while scoring
  (``/proc/<pid>/stat``), as a ratio.

Prints the figures and writes ``bench/results/online.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _server import start_server  # bench/ is on sys.path when a script runs
from assay.client import Assay

RESULTS = Path(__file__).resolve().parent / "results" / "online.json"
BATCH = 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(traces: int, settle: float, database_url: str | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="assay-online-bench-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY")
    }
    env.update(
        ASSAY_HOME=str(home),
        ASSAY_AUTH="none",
        ASSAY_ONLINE_SETTLE_S=str(settle),
        ASSAY_WORKER_POLL_INTERVAL="0.2",
        ASSAY_RATE_LIMIT_REQUESTS="0",
    )
    if database_url:
        env["ASSAY_DATABASE_URL"] = database_url
        env["ASSAY_PROJECT"] = f"online-bench-{os.getpid()}-{int(time.time())}"
    proc, url = start_server(env, home / "server.log")
    try:
        client = Assay(base_url=url, timeout=120)
        client.evaluators.create("says-paris", "contains", params={"value": "Paris"})
        client.online_rules.create("bench", ["says-paris"], filter={"name": "bench-*"})
        prefix = f"bench-{int(time.time() * 1000)}"
        bodies = [
            {
                "id": f"{prefix}-{i}",
                "name": "bench-answer",
                "input": {"q": f"capital {i}"},
                "output": "Paris" if i % 3 else "Lyon",
                "observations": [{"type": "generation", "model": "m", "output": "Paris"}],
            }
            for i in range(traces)
        ]
        cpu0 = cpu_seconds(proc.pid)
        started = time.perf_counter()
        for start in range(0, traces, BATCH):
            client.traces.ingest(bodies[start : start + BATCH])
        ingest_wall = time.perf_counter() - started
        cpu1 = cpu_seconds(proc.pid)
        deadline = time.monotonic() + 600
        while True:  # one aggregate query per look: cheap beside the work it waits for
            done = sum(p.count for s in client.online_rules.scores().series for p in s.points)
            if done >= traces:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {done} of {traces} traces scored in 10 min")
            time.sleep(0.1)
        drain_wall = time.perf_counter() - started - ingest_wall
        cpu2 = cpu_seconds(proc.pid)
        scored_at: dict[str | None, datetime] = {}
        for offset in range(0, traces, 1000):
            page = client.scores.list(source="online", limit=1000, offset=offset)
            scored_at.update({s.trace_id: s.created_at for s in page.items})
        ingested_at: dict[str, datetime] = {}
        cursor = None
        while True:
            listed = client.traces.list(limit=1000, cursor=cursor)
            ingested_at.update({t.id: t.created_at for t in listed.items})
            cursor = listed.next_cursor
            if cursor is None:
                break
        lags = [
            (scored_at[t] - ingested_at[t]).total_seconds()
            for t in scored_at
            if t is not None and t in ingested_at
        ]
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    beyond = [lag - settle for lag in lags]
    return {
        "traces": traces,
        "settle_s": settle,
        "lag_s": {
            "p50": round(quantile(lags, 0.5), 3),
            "p95": round(quantile(lags, 0.95), 3),
            "max": round(max(lags), 3),
            "mean": round(statistics.fmean(lags), 3),
        },
        "lag_beyond_settle_s": {
            "p50": round(quantile(beyond, 0.5), 3),
            "p95": round(quantile(beyond, 0.95), 3),
        },
        "wall_s": {
            "ingest_burst": round(ingest_wall, 3),
            "burst_end_to_last_score": round(drain_wall, 3),
            "drain_vs_ingest": round(drain_wall / ingest_wall, 2),
        },
        "server_cpu_ms_per_trace": {
            "ingest": round((cpu1 - cpu0) * 1000 / traces, 3),
            "score": round((cpu2 - cpu1) * 1000 / traces, 3),
            "score_vs_ingest": round((cpu2 - cpu1) / max(cpu1 - cpu0, 1e-9), 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=0.5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    figures = run(args.traces, args.settle, args.database_url)
    backend = "postgresql" if args.database_url else "sqlite"
    result = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": backend,
        **figures,
    }
    print(json.dumps(result, indent=2))
    out = RESULTS if backend == "sqlite" else RESULTS.with_name("online-postgresql.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
