"""Scorer overhead: samples scored per second by each deterministic built-in.

Each scorer runs over a fixed mix of samples (short answers, a ~2 kB paragraph, JSON objects,
tool calls) for a bounded time, called the way the engine calls it (``run_scorer``, which
awaits and normalises), and directly (``score``). Semantic similarity is measured with
``--embeddings`` (a few dozen encodes). Prints a table and writes bench/results/scorers.json.

    PYTHONPATH=src python bench/scorers.py [--seconds 0.3] [--embeddings]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import platform
import time
from pathlib import Path
from typing import Any

from assay.scoring import Sample, Scorer, build, run_scorer

PARAGRAPH = (
    "Machine learning is a field of study in artificial intelligence concerned with the "
    "development of statistical algorithms that can learn from data and generalise to unseen "
    "data, and thus perform tasks without explicit instructions. "
) * 8  # ~1.9 kB

SAMPLES = [
    Sample(input="capital?", output="Paris", expected_output="Paris"),
    Sample(input="capital?", output="The capital is Paris.", expected_output="paris"),
    Sample(input="explain ML", output=PARAGRAPH, expected_output=PARAGRAPH[:-40] + " patterns."),
    Sample(
        input="extract",
        output='{"name": "Ada", "age": 36, "tags": ["math", "poetry"]}',
        expected_output={"name": "Ada", "age": 36, "tags": ["math", "logic"]},
        latency_ms=420.0,
        cost=0.0021,
        tokens_in=120,
        tokens_out=40,
        tool_calls=[
            {"name": "search", "arguments": {"query": "Ada Lovelace"}},
            {"name": "answer", "arguments": {"text": "Ada"}},
        ],
    ),
]

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}

SPECS: dict[str, dict[str, Any]] = {
    "exact_match": {"kind": "exact_match", "params": {"ignore_case": True}},
    "contains": {"kind": "contains", "params": {"value": ["Paris", "data"]}},
    "icontains": {"kind": "icontains", "params": {"value": "paris"}},
    "contains_any": {"kind": "contains_any", "params": {"value": ["Paris", "data"]}},
    "contains_all": {"kind": "contains_all", "params": {"value": ["Paris", "data"]}},
    "regex": {"kind": "regex", "params": {"pattern": r"\b[A-Z][a-z]+\b"}},
    "starts_with": {"kind": "starts_with", "params": {"value": "The"}},
    "ends_with": {"kind": "ends_with", "params": {"value": "."}},
    "length": {"kind": "length", "params": {"max": 500, "unit": "words"}},
    "is_json": {"kind": "is_json"},
    "json_schema": {"kind": "json_schema", "params": {"schema": SCHEMA}},
    "json_match": {"kind": "json_match"},
    "levenshtein": {"kind": "levenshtein"},
    "similarity": {"kind": "similarity", "params": {"method": "token_set_ratio"}},
    "numeric_close": {"kind": "numeric_close", "params": {"value": 36, "extract": True}},
    "token_f1": {"kind": "token_f1"},
    "bleu": {"kind": "bleu"},
    "rouge_l": {"kind": "rouge_l"},
    "latency": {"kind": "latency", "params": {"max": 1000}},
    "cost": {"kind": "cost", "params": {"max": 0.01}},
    "tokens": {"kind": "tokens", "params": {"max": 1000}},
    "tool_used": {"kind": "tool_used", "params": {"tool": "search"}},
    "tool_arguments": {
        "kind": "tool_arguments",
        "params": {"tool": "search", "arguments": {"query": "Ada Lovelace"}},
    },
    "tool_sequence": {"kind": "tool_sequence", "params": {"sequence": ["search", "answer"]}},
    "mapped+threshold (exact_match)": {
        "kind": "exact_match",
        "mapping": {"output": "output", "expected_output": "expected_output"},
        "threshold": {"equals": True},
    },
    "composite (3 parts, weighted_mean)": {
        "kind": "composite",
        "params": {
            "scorers": [
                {"kind": "token_f1"},
                {"kind": "rouge_l"},
                {"kind": "contains", "params": {"value": "a"}},
            ]
        },
    },
}


def _direct_rate(scorer: Scorer, seconds: float) -> float:
    """Calls of a sync ``score`` per second (a call that raises still counts)."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for sample in SAMPLES:
            # a sample the scorer cannot score still counts, as in a real run
            with contextlib.suppress(Exception):
                scorer.score(sample)
            n += 1
    return n / (time.perf_counter() - start)


async def _engine_rate(scorer: Scorer, seconds: float) -> float:
    """Samples per second through ``run_scorer``, as the engine calls scorers."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for sample in SAMPLES:
            await run_scorer(scorer, sample)
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="time per scorer and mode")
    parser.add_argument("--embeddings", action="store_true", help="also time semantic_similarity")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results/scorers.json")
    args = parser.parse_args()
    seconds = max(0.05, min(args.seconds, 5.0))
    specs = dict(SPECS)
    if args.embeddings:
        specs["semantic_similarity"] = {"kind": "semantic_similarity"}

    rows = []
    print(f"{'scorer':36} {'run_scorer/s':>14} {'score()/s':>12}")
    for label, spec in specs.items():
        scorer = build(spec)
        is_async = inspect.iscoroutinefunction(scorer.score)
        if label == "semantic_similarity":
            asyncio.run(run_scorer(scorer, SAMPLES[0]))  # load the model outside the timing
        engine = asyncio.run(_engine_rate(scorer, seconds))
        direct = None if is_async else _direct_rate(scorer, seconds)
        rows.append(
            {
                "scorer": label,
                "run_scorer_per_s": round(engine, 1),
                "score_per_s": None if direct is None else round(direct, 1),
            }
        )
        shown = "async" if direct is None else f"{direct:,.0f}"
        print(f"{label:36} {engine:>14,.0f} {shown:>12}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "scorers",
        "samples": len(SAMPLES),
        "seconds_per_measure": seconds,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
