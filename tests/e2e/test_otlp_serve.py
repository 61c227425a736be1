"""Real OpenTelemetry clients exporting into a real ``assay serve`` with project keys.

The OpenTelemetry SDK's OTLP/HTTP exporter (protobuf, optionally gzip) posts to ``/v1/traces``
configured as ``docs/opentelemetry.md`` says; the OpenInference instrumentation of the real
``openai`` client records a chat completion answered by the local fake provider, and the
generation is read back through the API with its model, messages, tokens and cost.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from assay.client import Assay
from assay.domain import ObservationType
from tests.e2e.test_serve import assay, env, start  # noqa: F401  (env is a fixture)
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e


@pytest.fixture
def keyed_server(env: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:  # noqa: F811
    created = assay(env, "keys", "create", "--project", "team", "--name", "otel", "--json")
    assert created.returncode == 0, created.stderr
    proc, base = start({**env, "ASSAY_AUTH": "keys"})
    yield base, json.loads(created.stdout)
    proc.terminate()
    proc.wait(timeout=60)


def _basic(key: dict[str, Any]) -> str:
    pair = f"{key['public_key']}:{key['secret_key']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _provider(exporter: OTLPSpanExporter, *, batch: bool = False) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def test_the_sdk_exporter_from_environment_variables(
    keyed_server: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, key = keyed_server
    # The two lines docs/opentelemetry.md gives (the exporter appends /v1/traces).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization={_basic(key)}")
    provider = _provider(OTLPSpanExporter(), batch=True)
    tracer = provider.get_tracer("support-bot")
    with tracer.start_as_current_span("support-agent") as root:
        root.set_attribute("input.value", json.dumps({"query": "reset password"}))
        root.set_attribute("input.mime_type", "application/json")
        root.set_attribute("session.id", "s-42")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.system", "openai")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.usage.input_tokens", 1000)
            llm.set_attribute("gen_ai.usage.output_tokens", 100)
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_status(Status(StatusCode.ERROR, "index offline"))
        root.set_attribute("output.value", "Go to Settings")
        trace_id = format(root.get_span_context().trace_id, "032x")
        root_id = format(root.get_span_context().span_id, "016x")
    assert provider.force_flush(30_000)
    provider.shutdown()

    client = Assay(base_url=base, public_key=key["public_key"], secret_key=key["secret_key"])
    trace = client.traces.get(trace_id)
    assert (trace.name, trace.session_id) == ("support-agent", "s-42")
    assert (trace.input, trace.output) == ({"query": "reset password"}, "Go to Settings")
    assert trace.metadata["resource"]["service.name"] == "support-bot"
    by_name = {o.name: o for o in trace.observations}
    llm_obs = by_name["chat gpt-4o"]
    assert llm_obs.parent_id == root_id
    assert llm_obs.type is ObservationType.generation
    assert (llm_obs.model, llm_obs.tokens_in, llm_obs.tokens_out) == ("gpt-4o", 1000, 100)
    assert llm_obs.cost == pytest.approx(1000 * 2.5e-6 + 100 * 10e-6)
    assert (by_name["lookup"].type, by_name["lookup"].level) == (ObservationType.tool, "ERROR")
    assert by_name["lookup"].status_message == "index offline"
    client.close()


def test_openai_client_instrumented_with_openinference(
    keyed_server: tuple[str, dict[str, Any]],
) -> None:
    import openai

    base, key = keyed_server
    exporter = OTLPSpanExporter(
        endpoint=f"{base}/api/public/otel/v1/traces",
        headers={"Authorization": f"Bearer {key['secret_key']}"},
        compression=Compression.Gzip,
    )
    provider = _provider(exporter)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    question = "How do I reset my password?"
    try:
        with FakeProvider() as fake:
            llm = openai.OpenAI(base_url=fake.openai_url, api_key="sk-fake", max_retries=0)
            with provider.get_tracer("bot").start_as_current_span("support-agent") as root:
                reply = llm.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "Answer briefly."},
                        {"role": "user", "content": question},
                    ],
                    temperature=0,
                )
                trace_id = format(root.get_span_context().trace_id, "032x")
            llm.close()
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush(30_000)
    provider.shutdown()
    answer = reply.choices[0].message.content
    assert answer == f"echo: {question}"

    client = Assay(base_url=base, public_key=key["public_key"], secret_key=key["secret_key"])
    trace = client.traces.get(trace_id)
    generation = next(o for o in trace.observations if o.type is ObservationType.generation)
    assert generation.model == "gpt-4o-mini"
    assert generation.input == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": question},
    ]
    assert generation.output == {"role": "assistant", "content": answer}
    # The fake provider counts words: 2 + 6 prompt words, 7 completion words.
    assert (generation.tokens_in, generation.tokens_out) == (8, 7)
    assert generation.cost == pytest.approx(8 * 0.15e-6 + 7 * 0.60e-6)
    assert generation.model_parameters is not None
    assert generation.model_parameters["temperature"] == 0
    assert generation.parent_id == next(
        o.id for o in trace.observations if o.name == "support-agent"
    )
    client.close()
