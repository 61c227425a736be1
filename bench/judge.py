"""Judge and re-scoring overhead, against the local fake provider (no real model latency).

- ``judge``: ``llm_judge`` scores over HTTP to a local OpenAI-shaped server that answers at
  once: prompt rendering, one request, reply parsing, cost lookup. Concurrency 1 and 16.
- ``judge_latency``: the same server answering after 50 ms, concurrency 16: achieved calls/s
  over the ideal (16 / 0.05 s).
- ``rescore``: an experiment of N results (default 5,000) on SQLite re-scored with
  ``exact_match``, first adding the scores, then replacing them; results/s.

    PYTHONPATH=src python bench/judge.py [--items 5000] [--calls 300]

Prints a table and writes bench/results/judge.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakes.provider

from tests.fakes.provider import FakeProvider  # noqa: E402

from assay.engine import llm_judge  # noqa: E402
from assay.scoring import Sample, run_scorer  # noqa: E402

VERDICT = '{"reason": "matches the reference", "choice": "A"}'


async def _judge_calls(url: str, calls: int, concurrency: int) -> float:
    judge = llm_judge(model="gpt-4o-mini", base_url=url, api_key="k")
    sample = Sample(input={"q": "capital of France?"}, output="Paris", expected_output="Paris")
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            [score] = await run_scorer(judge, sample)
            assert score.value == 1.0, score.reason

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return calls / (time.perf_counter() - start)


def judge(calls: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with FakeProvider(reply=lambda _: VERDICT) as fake:
        for concurrency in (1, 16):
            out[f"calls_per_s_c{concurrency}"] = round(
                asyncio.run(_judge_calls(fake.openai_url, calls, concurrency)), 1
            )
    with FakeProvider(reply=lambda _: VERDICT, delay=0.05) as slow:
        rate = asyncio.run(_judge_calls(slow.openai_url, min(calls, 160), 16))
    out["latency_50ms_c16_calls_per_s"] = round(rate, 1)
    out["latency_50ms_c16_of_ideal"] = round(rate / (16 / 0.05), 3)
    return out


def rescore(items: int) -> dict[str, Any]:
    from assay.config import Settings
    from assay.domain import DatasetCreate, ItemCreate
    from assay.engine import RunOptions, plan, rescore_results
    from assay.store import open_store
    from assay.targets import FunctionTarget

    store = open_store(Settings(home=Path(tempfile.mkdtemp(prefix="assay-bench-"))))
    store.datasets.create(DatasetCreate(name="bench"))
    store.datasets.add_items(
        "bench",
        (ItemCreate(input=f"question {i}", expected_output=f"question {i}") for i in range(items)),
    )
    prepared = plan(
        store,
        dataset="bench",
        target=FunctionTarget(lambda x: x),
        options=RunOptions(poll_interval=0.05),
    )
    experiment_id = asyncio.run(prepared.run()).id
    out: dict[str, Any] = {"results": items}
    for label in ("add", "replace"):
        start = time.perf_counter()
        report = rescore_results(store, experiment_id, ["exact_match"], concurrency=8)
        elapsed = time.perf_counter() - start
        assert report.results == items
        assert report.passed == items
        out[f"{label}_results_per_s"] = round(items / elapsed, 1)
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "judge.json")
    args = parser.parse_args()
    figures = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "judge": judge(args.calls),
        "rescore": rescore(args.items),
    }
    for section in ("judge", "rescore"):
        for key, value in figures[section].items():
            print(f"{section:8} {key:32} {value:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
