"""The OpenTelemetry contrib instrumentation of the real ``openai`` client
(``opentelemetry-instrumentation-openai-v2``) exporting over OTLP/HTTP into a real
``assay serve``: the chat completion, answered by the local fake provider, is read back as a
generation with its model, messages, tokens and cost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from assay.client import Assay
from assay.domain import ObservationType
from tests.e2e.test_serve import env, start  # noqa: F401  (env is a fixture)
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:  # noqa: F811
    proc, base = start(env)
    yield base
    proc.terminate()
    proc.wait(timeout=60)


def test_openai_client_instrumented_with_openai_v2(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai

    # What docs/opentelemetry.md says to set: message content on the span, as attributes.
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server}/v1/traces"))
    )
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

    with Assay(base_url=server) as client:
        trace = client.traces.get(trace_id)
    generation = next(o for o in trace.observations if o.type is ObservationType.generation)
    assert generation.model == "gpt-4o-mini"
    assert generation.parent_id == next(
        o.id for o in trace.observations if o.name == "support-agent"
    )
    # The latest GenAI conventions: messages with typed parts.
    assert generation.input == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": question}]},
    ]
    output: Any = generation.output
    assert output["role"] == "assistant"
    assert output["parts"] == [{"type": "text", "content": answer}]
    assert generation.model_parameters == {"temperature": 0}
    # The fake provider counts words: 2 + 6 prompt words, 7 completion words.
    assert (generation.tokens_in, generation.tokens_out) == (8, 7)
    assert generation.cost == pytest.approx(8 * 0.15e-6 + 7 * 0.60e-6)
