"""Benchmark: what tracing costs the caller's thread, per span, next to OpenTelemetry's SDK.

    python bench/traces.py                 # 20,000 spans per case, 7 rounds
    python bench/traces.py --spans 5000 --rounds 3

Measured in one process, cases interleaved round by round so that background load hits them
alike; each figure is the median over rounds of (wall time of the loop / spans):

- ``otel span``: ``with tracer.start_as_current_span("step"): pass`` on an OpenTelemetry SDK
  ``TracerProvider`` with a ``BatchSpanProcessor`` in front of an exporter that discards;
- ``otel span + 2 attributes``: the same, setting an input and an output attribute;
- ``otel span, no processor``: a ``TracerProvider`` with no processor at all (it records
  nothing: the least any OpenTelemetry span costs), for scale;
- ``assay span``: ``trace.span(name="step").end()``;
- ``assay span + input/output``: ``trace.span(name="step", input=i).end(output=i)``;
- ``assay @observe``: a call of an ``@assay.observe()`` function inside an observed call (its
  argument and return value captured);
- ``otel generation (GenAI attributes)``: an OpenTelemetry span with the six attributes a
  GenAI instrumentation sets on a chat call (operation, system, model, temperature, tokens);
- ``otel span, captured in a run`` and ``otel generation, captured in a run``: the same two
  spans made inside an ``evaluate()`` target call, where Assay's span processor
  (``assay.engine.otel_capture``) also records each as a step of the result's trace (the
  generation mapped with its model, tokens and priced cost). The difference to the uncaptured
  case is what capturing adds per span.

Each case also reports the CPU time of the caller's thread (``time.thread_time``) per span,
which background load on the machine does not inflate.

Both exporters run for real on their own threads while the caller records (Assay's sends its
batches to an in-process transport that answers 200 at once), so the figures include what a
busy exporter takes from the caller through the GIL. Between rounds both are flushed, outside
the timings. Prints the figures and writes ``bench/results/traces.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import assay
from assay.client import Assay
from assay.engine import otel_capture
from assay.targets.spans import recording

RESULTS = Path(__file__).resolve().parent / "results" / "traces.json"


class Discard(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def accepted(request: httpx.Request) -> httpx.Response:
    body = {"created": 0, "updated": 0, "observations": 0, "trace_ids": []}
    return httpx.Response(200, json=body)


def setup(journal: Path) -> tuple[Any, Any, TracerProvider, Discard, Assay]:
    exporter = Discard()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    bare = TracerProvider().get_tracer("bench")
    http = httpx.Client(transport=httpx.MockTransport(accepted), base_url="http://assay.bench")
    client = Assay(base_url="http://assay.bench", http_client=http)
    client.configure_tracing(journal_dir=journal)
    assay.configure(client)
    return tracer, bare, provider, exporter, client


def cases(tracer: Any, bare: Any, client: Assay, n: int) -> dict[str, Callable[[], float]]:
    def otel() -> float:
        start = time.perf_counter()
        for _ in range(n):
            with tracer.start_as_current_span("step"):
                pass
        return time.perf_counter() - start

    def otel_bare() -> float:
        start = time.perf_counter()
        for _ in range(n):
            with bare.start_as_current_span("step"):
                pass
        return time.perf_counter() - start

    def otel_attributes() -> float:
        start = time.perf_counter()
        for i in range(n):
            with tracer.start_as_current_span("step") as span:
                span.set_attribute("input", i)
                span.set_attribute("output", i)
        return time.perf_counter() - start

    def assay_span() -> float:
        trace = client.trace(name="bench")
        start = time.perf_counter()
        for _ in range(n):
            trace.span(name="step").end()
        return time.perf_counter() - start

    def assay_span_io() -> float:
        trace = client.trace(name="bench")
        start = time.perf_counter()
        for i in range(n):
            trace.span(name="step", input=i).end(output=i)
        return time.perf_counter() - start

    @assay.observe()
    def step(i: int) -> int:
        return i

    @assay.observe()
    def loop() -> float:
        start = time.perf_counter()
        for i in range(n):
            step(i)
        return time.perf_counter() - start

    def otel_generation() -> float:
        start = time.perf_counter()
        for _ in range(n):
            with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.system", "openai")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                span.set_attribute("gen_ai.request.temperature", 0.0)
                span.set_attribute("gen_ai.usage.input_tokens", 120)
                span.set_attribute("gen_ai.usage.output_tokens", 40)
        return time.perf_counter() - start

    return {
        "otel span": otel,
        "otel span + 2 attributes": otel_attributes,
        "otel span, no processor": otel_bare,
        "assay span": assay_span,
        "assay span + input/output": assay_span_io,
        "assay @observe": loop,
        "otel generation (GenAI attributes)": otel_generation,
        CAPTURED + "otel span": otel,
        CAPTURED + "otel generation": otel_generation,
    }


CAPTURED = "captured in a run: "


def timed(name: str, run: Callable[[], float]) -> tuple[float, float]:
    """(wall seconds, caller-thread CPU seconds) of one round of a case."""
    if not name.startswith(CAPTURED):
        cpu = time.thread_time()
        return run(), time.thread_time() - cpu
    otel_capture.acquire()  # what a run does when it starts (outside the timing)
    try:
        with recording():  # inside a target call
            cpu = time.thread_time()
            wall = run()
            return wall, time.thread_time() - cpu
    finally:
        otel_capture.release()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as journal:
        tracer, bare, provider, discard, client = setup(Path(journal))
        otel_trace.set_tracer_provider(provider)  # the process's provider, as a user sets it
        measured = cases(tracer, bare, client, args.spans)
        for name, run in measured.items():  # warm up
            timed(name, run)
        samples: dict[str, list[float]] = {name: [] for name in measured}
        cpu: dict[str, list[float]] = {name: [] for name in measured}
        for _ in range(args.rounds):
            for name, run in measured.items():
                wall, used = timed(name, run)
                samples[name].append(wall / args.spans * 1e6)
                cpu[name].append(used / args.spans * 1e6)
                provider.force_flush()
                client.flush()
        stats = client.tracing_stats()
        provider.shutdown()
        client.close()

    figures = {
        name: {
            "median_us": round(statistics.median(v), 3),
            "min_us": round(min(v), 3),
            "cpu_median_us": round(statistics.median(cpu[name]), 3),
        }
        for name, v in samples.items()
    }
    floor = figures["otel span"]["median_us"]
    cpu_floor = figures["otel span"]["cpu_median_us"]
    for values in figures.values():
        values["vs_otel_span"] = round(values["median_us"] / floor, 2)
        values["cpu_vs_otel_span"] = round(values["cpu_median_us"] / cpu_floor, 2)
    capture = {
        kind: {
            "added_cpu_us": round(
                figures[CAPTURED + kind]["cpu_median_us"] - figures[base]["cpu_median_us"], 3
            ),
            "cpu_ratio": round(
                figures[CAPTURED + kind]["cpu_median_us"] / figures[base]["cpu_median_us"], 2
            ),
        }
        for kind, base in (
            ("otel span", "otel span"),
            ("otel generation", "otel generation (GenAI attributes)"),
        )
    }
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "spans_per_round": args.spans,
        "rounds": args.rounds,
        "per_span": figures,
        "capture_overhead": capture,
        "exported": {
            "assay_records": stats.records,
            "assay_dropped": stats.dropped,
            "otel_spans": discard.spans,
        },
    }
    print(f"{'case':<40} {'median µs/span':>15} {'min':>8} {'vs otel':>8} {'cpu µs':>8}")
    for name, values in figures.items():
        print(
            f"{name:<40} {values['median_us']:>15.2f} {values['min_us']:>8.2f} "
            f"{values['vs_otel_span']:>8.2f} {values['cpu_median_us']:>8.2f}"
        )
    for kind, values in capture.items():
        print(
            f"capturing an {kind} in a run adds {values['added_cpu_us']:.2f} µs of CPU "
            f"on the caller's thread (x{values['cpu_ratio']:.2f})"
        )
    print(f"exported: {report['exported']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
