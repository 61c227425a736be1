"""Benchmark: OTLP/HTTP span ingestion into a real ``assay serve`` process.

    python bench/otlp.py                        # SQLite and PostgreSQL, 50 batches each
    python bench/otlp.py --db sqlite --batches 100

Starts the server in a subprocess on a free port with a fresh database (SQLite in a temporary
directory; on PostgreSQL a scratch database next to ``ASSAY_TEST_POSTGRES_URL``, dropped
afterwards), then posts protobuf ``ExportTraceServiceRequest`` bodies of 1,000 spans each
(100 agent traces of 10 spans: the agent, 3 OpenInference LLM calls with messages and token
counts, 3 GenAI tool calls, 3 retrievals) with one keep-alive client, one request at a time.
The bodies are built before timing. Reports spans/s over all batches, spans per CPU-second of
the server process (user + system time from ``/proc/<pid>/stat``; on PostgreSQL the database's
own processes are not counted) and the p50/p95 latency of one batch, then the p95 of re-sending
batches already stored (nothing is written twice).

In the same run, the same rows are written by the bare driver (``_otlp_floor``: ``sqlite3`` or
``psycopg`` ``executemany`` of pre-built tuples, no HTTP and no mapping) into a fresh database:
``vs_floor`` is the server's spans/s as a fraction of that, so the figures stay comparable on a
loaded machine.

Prints the figures and writes ``bench/results/otlp.json``.
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

import _otlp_floor  # bench/ is on sys.path when a script runs
from _server import start_server

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results" / "otlp.json"
SPANS_PER_BATCH = 1_000
SPANS_PER_TRACE = 10
PROTOBUF = {"content-type": "application/x-protobuf"}
T0 = 1_770_000_000_000_000_000


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(trace: bytes, n: int, parent: bytes, name: str, attrs: dict[str, Any]) -> Span:
    start = T0 + n * 1_000_000
    return Span(
        trace_id=trace,
        span_id=os.urandom(8),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 800_000,
        attributes=[_kv(k, v) for k, v in attrs.items()],
    )


def _trace(n: int) -> list[Span]:
    trace = os.urandom(16)
    question = f"How do I change the billing address of account {n:07d}?"
    root = _span(
        trace,
        0,
        b"",
        "support-agent",
        {
            "openinference.span.kind": "AGENT",
            "input.value": json.dumps({"query": question}),
            "input.mime_type": "application/json",
            "output.value": "Open Settings > Billing and edit the address.",
            "session.id": f"session-{n // 10}",
            "user.id": f"user-{n % 97}",
            "deployment.environment": "production",
        },
    )
    spans = [root]
    for step in range(3):
        spans.append(
            _span(
                trace,
                1 + step * 3,
                root.span_id,
                "ChatCompletion",
                {
                    "openinference.span.kind": "LLM",
                    "llm.provider": "openai",
                    "llm.model_name": "gpt-4o-mini-2024-07-18",
                    "llm.input_messages.0.message.role": "system",
                    "llm.input_messages.0.message.content": "You are a support agent.",
                    "llm.input_messages.1.message.role": "user",
                    "llm.input_messages.1.message.content": question,
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "Open Settings > Billing.",
                    "llm.token_count.prompt": 420 + step,
                    "llm.token_count.completion": 36,
                    "llm.token_count.total": 456 + step,
                },
            )
        )
        spans.append(
            _span(
                trace,
                2 + step * 3,
                root.span_id,
                "execute_tool lookup_account",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_account",
                    "gen_ai.tool.call.arguments": json.dumps({"account": n}),
                    "gen_ai.tool.call.result": json.dumps({"plan": "pro", "country": "DE"}),
                },
            )
        )
        spans.append(
            _span(
                trace,
                3 + step * 3,
                root.span_id,
                "retrieve",
                {
                    "openinference.span.kind": "RETRIEVER",
                    "input.value": "billing address",
                    "output.value": json.dumps(["kb-12", "kb-40", "kb-77"]),
                    "retrieval.top_k": 3,
                },
            )
        )
    return spans


def body(first_trace: int) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_kv("service.name", "support-bot"))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench"
    for n in range(first_trace, first_trace + SPANS_PER_BATCH // SPANS_PER_TRACE):
        scope.spans.extend(_trace(n))
    return bytes(request.SerializeToString())


def _quantiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "n": len(samples)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(base: str, pid: int, bodies: list[bytes]) -> dict[str, Any]:
    batches = len(bodies) - 2
    latencies: list[float] = []
    with httpx.Client(timeout=120) as http:
        for warm in bodies[:2]:  # connections, caches, the first pages of the tables
            http.post(f"{base}/v1/traces", content=warm, headers=PROTOBUF).raise_for_status()
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        for data in bodies[2:]:
            at = time.perf_counter()
            response = http.post(f"{base}/v1/traces", content=data, headers=PROTOBUF)
            latencies.append((time.perf_counter() - at) * 1000)
            response.raise_for_status()
            if response.content:  # a partial success would mean rejected spans
                raise SystemExit(f"spans were rejected: {response.content!r}")
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu
        resent: list[float] = []
        for data in bodies[2:22]:
            at = time.perf_counter()
            http.post(f"{base}/v1/traces", content=data, headers=PROTOBUF).raise_for_status()
            resent.append((time.perf_counter() - at) * 1000)
        stored = http.get(f"{base}/api/v1/traces/", params={"limit": 1}).json()["items"]
        assert stored, "no trace was stored"
    return {
        "spans": batches * SPANS_PER_BATCH,
        "spans_per_s": round(batches * SPANS_PER_BATCH / elapsed),
        "spans_per_server_cpu_s": round(batches * SPANS_PER_BATCH / cpu) if cpu else None,
        "batch_of_1000": _quantiles(latencies),
        "resent_batch_of_1000": _quantiles(resent),
        "body_bytes_per_batch": round(statistics.mean(len(b) for b in bodies)),
    }


@contextmanager
def scratch_postgres() -> Iterator[str]:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = os.environ.get("ASSAY_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    name = f"assay_bench_otlp_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(db: str, batches: int) -> dict[str, Any]:
    bodies = [body(b * 100) for b in range(batches + 2)]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ASSAY_HOME": tmp, "ASSAY_AUTH": "none", "ASSAY_PROJECT": "bench"}
        env.pop("ASSAY_DATABASE_URL", None)
        with scratch_postgres() if db == "postgresql" else _nothing() as url:
            if url:
                env["ASSAY_DATABASE_URL"] = url
            proc, base = start_server(env, Path(tmp) / "server.log")
            try:
                figures = measure(base, proc.pid, bodies)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        with scratch_postgres() if db == "postgresql" else _nothing() as url:
            floor = _otlp_floor.measure(url or f"sqlite:///{tmp}/floor.db", bodies[2:])
    figures["floor"] = floor
    figures["vs_floor"] = round(figures["spans_per_s"] / floor["spans_per_s"], 3)
    if db == "postgresql":
        with scratch_postgres() as url:
            copy = _otlp_floor.measure(url, bodies[2:], copy=True)
        figures["floor_copy"] = copy
        figures["vs_floor_copy"] = round(figures["spans_per_s"] / copy["spans_per_s"], 3)
    return figures


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "all" else [args.db]
    figures = {}
    for kind in kinds:
        figures[kind] = run(kind, args.batches)
        print(kind, json.dumps(figures[kind]), flush=True)
    result = {
        "benchmark": "otlp",
        "spans_per_batch": SPANS_PER_BATCH,
        "figures": figures,
        "goal": {"sqlite_spans_per_s": 20_000, "p95_ms_per_batch": 100},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.db == "all" or args.out != RESULTS:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
