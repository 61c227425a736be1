"""Benchmark: one page of the traces list under each filter, next to the unfiltered page.

    python bench/trace_list.py                       # 20,000 traces on SQLite
    python bench/trace_list.py --traces 5000 --db postgresql+psycopg://127.0.0.1:5432/scratch

Seeds a fresh project with ``--traces`` traces (3 observations each: a span, a generation on
one of four models, a tool call; one trace in 50 failed; one in 10 scored), then reads the first
page (50 rows, with totals and scores) and the fifth page under each filter. Each figure is the
median CPU time of this process over ``--rounds`` reads, and its ratio to the unfiltered first
page measured in the same run, so a loaded machine shifts both alike. Database time outside
this process (PostgreSQL's) is not in the CPU figures; the wall-time ratio is printed too.
Writes ``bench/results/trace_list-<db>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from assay.config import Settings  # noqa: E402
from assay.domain import ScoreCreate, ScoreSource, TraceCreate, TraceQuery  # noqa: E402
from assay.store import Store, open_store  # noqa: E402

MODELS = ("gpt-4o", "gpt-4o-mini", "claude", "llama")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed(store: Store, n: int) -> None:
    batch: list[TraceCreate] = []
    for i in range(n):
        start = T0 + timedelta(minutes=i)
        batch.append(
            TraceCreate.model_validate(
                {
                    "id": f"t{i}",
                    "name": f"flow-{i % 7}",
                    "user_id": f"u{i % 100}",
                    "session_id": f"s{i // 5}",
                    "tags": ["prod" if i % 3 else "staging"],
                    "start_time": start.isoformat(),
                    "input": {"q": f"question {i}"},
                    "output": f"answer {i}",
                    "observations": [
                        {"id": f"t{i}-a", "name": "agent", "start_time": start.isoformat()},
                        {
                            "id": f"t{i}-g",
                            "parent_id": f"t{i}-a",
                            "type": "generation",
                            "model": MODELS[i % 4],
                            "tokens_in": 10,
                            "tokens_out": 5,
                            "cost": 0.001,
                            "level": "ERROR" if i % 50 == 0 else "DEFAULT",
                        },
                        {"id": f"t{i}-t", "parent_id": f"t{i}-a", "type": "tool"},
                    ],
                }
            )
        )
        if len(batch) == 500:
            store.traces.ingest(batch)
            batch = []
    if batch:
        store.traces.ingest(batch)
    for i in range(0, n, 10):
        store.scores.upsert(
            ScoreCreate(name="quality", value=(i % 100) / 100, source=ScoreSource.api),
            trace_id=f"t{i}",
        )


CASES: dict[str, dict[str, Any]] = {
    "none": {},
    "name": {"name": "flow-3"},
    "user": {"user_id": "u7"},
    "session": {"session_id": "s40"},
    "tag": {"tags": ["staging"]},
    "search": {"search": "flow-5"},
    "model": {"model": "claude"},
    "errors": {"errors": True},
    "score": {"score_name": "quality", "score_min": 0.5},
    "time range": {"since": T0 + timedelta(days=3), "until": T0 + timedelta(days=6)},
    "model + errors + tag": {"model": "gpt-4o", "errors": True, "tags": ["prod"]},
}


def measure(store: Store, where: TraceQuery, pages: int, rounds: int) -> tuple[float, float]:
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(rounds):
        c, w = time.process_time(), time.perf_counter()
        cursor = None
        for _ in range(pages):
            page = store.traces.list(where, limit=50, cursor=cursor)
            cursor = page.next_cursor
            if cursor is None:
                break
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), project=f"bench-{uuid.uuid4().hex[:8]}")
        if args.db:
            settings = settings.model_copy(update={"database_url": args.db})
        store = open_store(settings)
        kind = store.db.dialect
        started = time.perf_counter()
        seed(store, args.traces)
        print(f"{kind}: seeded {args.traces} traces in {time.perf_counter() - started:.1f} s")
        base_cpu, base_wall = measure(store, TraceQuery(), 1, args.rounds)
        rows = []
        for label, where in CASES.items():
            query = TraceQuery.model_validate(where)
            for pages in (1, 5):
                cpu, wall = measure(store, query, pages, args.rounds)
                rows.append(
                    {
                        "filter": label,
                        "pages": pages,
                        "cpu_ms": round(cpu * 1000, 2),
                        "cpu_ratio": round(cpu / base_cpu, 2),
                        "wall_ratio": round(wall / base_wall, 2),
                    }
                )
                print(
                    f"{label:>22} pages 1..{pages}: {cpu * 1000:8.2f} ms CPU "
                    f"(x{cpu / base_cpu:5.2f} CPU, x{wall / base_wall:5.2f} wall)"
                )
        store.close()
    out = ROOT / "bench" / "results" / f"trace_list-{kind}.json"
    out.write_text(
        json.dumps(
            {
                "traces": args.traces,
                "rounds": args.rounds,
                "baseline": "first page, no filter",
                "baseline_cpu_ms": round(base_cpu * 1000, 2),
                "cases": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
