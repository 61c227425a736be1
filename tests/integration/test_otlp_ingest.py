"""POST /v1/traces: OTLP/HTTP export requests in protobuf and JSON, gzip, auth, limits."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.protobuf import json_format

from assay.domain import ObservationType
from assay.store import Store
from tests.integration.otlp_support import (
    PROTOBUF,
    T0,
    export_request,
    new_span_id,
    new_trace_id,
    parse_response,
    span,
)


def _post(http: TestClient, request: object, path: str = "/v1/traces") -> dict[str, object]:
    response = http.post(path, content=request.SerializeToString(), headers=PROTOBUF)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    return json_format.MessageToDict(parse_response(response.content))


def _agent_trace() -> tuple[bytes, list[object]]:
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    spans = [
        span(
            trace_id,
            root,
            "support-agent",
            duration_ms=900,
            attrs={
                "openinference.span.kind": "AGENT",
                "input.value": json.dumps({"query": "How do I reset my password?"}),
                "input.mime_type": "application/json",
                "output.value": "Go to Settings > Security",
                "session.id": "session-1",
                "user.id": "user-7",
                "tag.tags": ["prod", "support"],
                "deployment.region": "eu-west-1",
            },
        ),
        span(
            trace_id,
            llm,
            "ChatCompletion",
            parent=root,
            start=T0 + 10_000_000,
            attrs={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini-2024-07-18",
                "llm.provider": "openai",
                "llm.invocation_parameters": json.dumps({"temperature": 0}),
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "Be brief.",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": "How do I reset my password?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Go to Settings > Security",
                "llm.token_count.prompt": 2000,
                "llm.token_count.completion": 1000,
                "llm.token_count.total": 3000,
            },
        ),
        span(
            trace_id,
            tool,
            "execute_tool search_docs",
            parent=root,
            start=T0 + 20_000_000,
            attrs={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_docs",
                "gen_ai.tool.call.arguments": json.dumps({"q": "reset password"}),
                "gen_ai.tool.call.result": json.dumps(["kb-12"]),
            },
            error="timeout after 5 s",
        ),
    ]
    return trace_id, spans


def test_spans_become_a_trace_with_observations(http: TestClient, store: Store) -> None:
    trace_id, spans = _agent_trace()
    assert _post(http, export_request(*spans)) == {}  # no partial_success: all accepted

    trace = store.traces.get(trace_id.hex())
    assert trace.name == "support-agent"
    assert trace.input == {"query": "How do I reset my password?"}
    assert trace.output == "Go to Settings > Security"
    assert (trace.session_id, trace.user_id) == ("session-1", "user-7")
    assert trace.tags == ["prod", "support"]
    assert trace.metadata["resource"] == {"service.name": "support-bot"}
    assert trace.metadata["attributes"]["deployment.region"] == "eu-west-1"
    assert trace.end_time is not None
    assert trace.start_time is not None
    assert (trace.end_time - trace.start_time).total_seconds() == pytest.approx(0.9)

    by_name = {o.name: o for o in trace.observations}
    agent, llm = by_name["support-agent"], by_name["ChatCompletion"]
    tool = by_name["execute_tool search_docs"]
    assert agent.parent_id is None
    assert agent.type is ObservationType.span
    assert llm.parent_id == agent.id == spans[0].span_id.hex()  # type: ignore[attr-defined]
    assert llm.type is ObservationType.generation
    assert llm.model == "gpt-4o-mini-2024-07-18"
    assert llm.input == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How do I reset my password?"},
    ]
    assert llm.output == {"role": "assistant", "content": "Go to Settings > Security"}
    assert (llm.tokens_in, llm.tokens_out) == (2000, 1000)
    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens, from the price table (dated snapshot, prefix).
    assert llm.cost == pytest.approx(2000 * 0.15e-6 + 1000 * 0.60e-6)
    assert llm.model_parameters == {"temperature": 0}
    assert "llm.token_count.total" not in llm.metadata["attributes"]
    assert llm.metadata["attributes"]["llm.provider"] == "openai"
    assert llm.metadata["otel"]["span_kind"] == "client"

    assert tool.type is ObservationType.tool
    assert (tool.input, tool.output) == ({"q": "reset password"}, ["kb-12"])
    assert (tool.level, tool.status_message) == ("ERROR", "timeout after 5 s")
    assert tool.metadata["otel"]["status"] == "error"
    assert tool.metadata["attributes"]["gen_ai.tool.name"] == "search_docs"


def test_a_resent_batch_stores_nothing_twice(http: TestClient, store: Store) -> None:
    trace_id, spans = _agent_trace()
    request = export_request(*spans)
    _post(http, request)
    _post(http, request)
    _post(http, export_request(*spans[1:]))  # children again, alone
    trace = store.traces.get(trace_id.hex())
    assert len(trace.observations) == 3
    assert trace.name == "support-agent"  # a batch without the root leaves the trace as it is
    page = store.traces.list(limit=100)
    assert [t.id for t in page.items].count(trace_id.hex()) == 1


def test_children_first_then_root(http: TestClient, store: Store) -> None:
    """A batch span processor exports children before the root that ends after them."""
    trace_id, spans = _agent_trace()
    _post(http, export_request(*spans[1:]))
    early = store.traces.get(trace_id.hex())
    assert early.name is None
    assert early.session_id is None
    _post(http, export_request(spans[0]))
    trace = store.traces.get(trace_id.hex())
    assert trace.name == "support-agent"
    assert trace.session_id == "session-1"
    assert len(trace.observations) == 3


def test_genai_conventions_with_event_messages(http: TestClient, store: Store) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    generation = span(
        trace_id,
        span_id,
        "chat claude-3-5-haiku",
        attrs={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku",
            "gen_ai.response.model": "claude-3-5-haiku-20241022",
            "gen_ai.request.max_tokens": 256,
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.conversation.id": "conv-9",
        },
        events=[
            ("gen_ai.system.message", {"gen_ai.event.content": '{"content": "Be brief."}'}),
            ("gen_ai.user.message", {"content": "Hi"}),
            (
                "gen_ai.choice",
                {"message": '{"role": "assistant", "content": "Hello"}', "index": 0},
            ),
        ],
    )
    _post(http, export_request(generation))
    trace = store.traces.get(trace_id.hex())
    (obs,) = trace.observations
    assert obs.type is ObservationType.generation
    assert obs.model == "claude-3-5-haiku-20241022"
    assert obs.input == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert obs.output == {"role": "assistant", "content": "Hello"}
    assert obs.model_parameters == {"max_tokens": 256}
    assert obs.cost == pytest.approx(100 * 0.80e-6 + 20 * 4.00e-6)
    assert trace.session_id == "conv-9"
    assert [e["name"] for e in obs.metadata["otel"]["events"]][-1] == "gen_ai.choice"


def test_genai_message_attributes_and_reported_cost(http: TestClient, store: Store) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    generation = span(
        trace_id,
        span_id,
        "chat",
        attrs={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "unknown-model",
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": []}]),
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.cost": 0.5,
        },
    )
    _post(http, export_request(generation))
    (obs,) = store.traces.get(trace_id.hex()).observations
    assert obs.input == messages
    assert obs.output == {"role": "assistant", "parts": []}
    assert obs.cost == 0.5


def _kv(key: str, value: dict[str, str]) -> dict[str, object]:
    return {"key": key, "value": value}


def test_otlp_json_with_hex_ids(http: TestClient, store: Store) -> None:
    trace_id, span_id = new_trace_id().hex(), new_span_id().hex()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_kv("service.name", {"stringValue": "js"})]},
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "answer",
                                "kind": 3,
                                "startTimeUnixNano": str(T0),
                                "endTimeUnixNano": str(T0 + 5_000_000),
                                "attributes": [
                                    _kv("gen_ai.request.model", {"stringValue": "gpt-4o"}),
                                    _kv("gen_ai.usage.input_tokens", {"intValue": "40"}),
                                ],
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = http.post("/v1/traces", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    (obs,) = store.traces.get(trace_id).observations
    assert (obs.id, obs.model, obs.tokens_in) == (span_id, "gpt-4o", 40)
    assert (obs.level, obs.status_message) == ("ERROR", "boom")
    assert obs.cost == pytest.approx(40 * 2.5e-6)


def test_gzip_bodies_in_both_encodings(http: TestClient, store: Store) -> None:
    trace_id, spans = _agent_trace()
    raw = gzip.compress(export_request(*spans).SerializeToString())
    response = http.post(
        "/v1/traces", content=raw, headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert len(store.traces.get(trace_id.hex()).observations) == 3

    other = new_trace_id()
    document = json_format.MessageToDict(export_request(span(other, new_span_id(), "j")))
    for s in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        s["traceId"] = base64.b64decode(s["traceId"]).hex()
        s["spanId"] = base64.b64decode(s["spanId"]).hex()
    response = http.post(
        "/api/public/otel/v1/traces",
        content=gzip.compress(json.dumps(document).encode()),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert store.traces.get(other.hex()).name == "j"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "needle"),
    [
        ("application/x-protobuf", b"\xff\xff\xff not protobuf", 400, "not an OTLP protobuf"),
        ("application/json", b"{not json", 400, "not JSON"),
        ("application/json", b"[1, 2]", 400, "JSON object"),
        ("application/json", b'{"resourceSpans": 7}', 400, "not an OTLP/JSON export request"),
        (
            "application/json",
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            400,
            "not hexadecimal",
        ),
        ("text/plain", b"hello", 415, "not OTLP/HTTP"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_clear_400(
    http: TestClient, content_type: str, body: bytes, status: int, needle: str
) -> None:
    response = http.post("/v1/traces", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    if content_type == "application/x-protobuf":
        from google.rpc.status_pb2 import Status

        message = Status.FromString(response.content)
        assert message.code == 3
        assert needle in message.message
    else:
        assert response.json()["code"] == 3
        assert needle in response.json()["message"]


def test_bad_gzip_and_gzip_bombs(app: FastAPI, http: TestClient) -> None:
    response = http.post(
        "/v1/traces", content=b"not gzip", headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 400
    assert "cannot be decompressed" in response.text
    truncated = gzip.compress(export_request().SerializeToString() + b"x" * 1000)[:-8]
    response = http.post(
        "/v1/traces", content=truncated, headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 400
    limit = app.state.assay.settings.max_request_bytes
    bomb = gzip.compress(b"\x00" * (limit + 1))
    response = http.post(
        "/v1/traces", content=bomb, headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 413
    response = http.post("/v1/traces", content=b"", headers={**PROTOBUF, "content-encoding": "br"})
    assert response.status_code == 415


def test_invalid_spans_are_a_partial_success(http: TestClient, store: Store) -> None:
    trace_id, good = new_trace_id(), new_span_id()
    other_trace, shared = new_trace_id(), new_span_id()
    request = export_request(
        span(trace_id, good, "good"),
        span(b"\x00" * 16, new_span_id(), "zero trace id"),
        span(trace_id, b"\x01\x02", "short span id"),
        span(trace_id, shared, "first owner"),
        span(other_trace, shared, "same span id, other trace"),
    )
    answer = _post(http, request)
    partial = answer["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert "trace_id" in partial["errorMessage"]
    names = {o.name for o in store.traces.get(trace_id.hex()).observations}
    assert names == {"good", "first owner"}

    # A span id already stored under another trace is refused, not moved.
    answer = _post(http, export_request(span(other_trace, good, "thief")))
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "another trace" in answer["partialSuccess"]["errorMessage"]


def test_crafted_keys_and_values_are_cleaned(http: TestClient, store: Store) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    attrs: dict[str, object] = {
        "evil\x00key\u202e\n": "nul\x00inside",
        "  ": "blank key",
        "x" * 1000: "long key",
        "input": "not the input column",
        "model": "not the model column",
        "otel": "not Assay's own",
        "payload": json.dumps({"a": "\\u0000"}).replace("\\\\", "\\"),
        "raw": b"\x00\x01",
    }
    attrs.update({f"extra.{i}": i for i in range(300)})
    _post(http, export_request(span(trace_id, span_id, "name\x00\x07 with controls")))
    request = export_request(span(new_trace_id(), new_span_id(), "x"))
    crafted = span(trace_id, new_span_id(), "crafted", parent=span_id, attrs=attrs)
    request.resource_spans[0].scope_spans[0].spans.append(crafted)
    _post(http, request)

    trace = store.traces.get(trace_id.hex())
    assert trace.name == "name\ufffd\x07 with controls"[:300]
    obs = next(o for o in trace.observations if o.name == "crafted")
    kept = obs.metadata["attributes"]
    assert kept["evilkey"] == "nul\ufffdinside"
    assert "  " not in kept
    assert "" not in kept
    assert "x" * 256 in kept
    assert kept["input"] == "not the input column"
    assert (obs.input, obs.model) == (None, None)
    assert kept["otel"] == "not Assay's own"
    assert obs.metadata["otel"]["span_kind"] == "client"
    assert obs.metadata["otel"]["dropped_attributes"] > 0
    assert len(kept) == 256
    assert kept["raw"] == base64.b64encode(b"\x00\x01").decode()
    assert not any(ord(c) < 32 for key in kept for c in key)


def test_long_values_are_cut(http: TestClient, store: Store) -> None:
    trace_id = new_trace_id()
    huge = "y" * 1_200_000
    _post(http, export_request(span(trace_id, new_span_id(), "big", attrs={"output.value": huge})))
    trace = store.traces.get(trace_id.hex())
    assert isinstance(trace.output, str)
    assert len(trace.output) < len(huge)
    assert trace.output.endswith("…[truncated]")


@pytest.fixture
def keyed(keyed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(keyed_app) as http:
        yield http


def test_project_keys_authenticate_exports(keyed: TestClient, store: Store) -> None:
    key = store.keys.create("otel")
    body = export_request(span(new_trace_id(), new_span_id(), "s")).SerializeToString()
    assert keyed.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 401
    token = base64.b64encode(f"{key.key.public_key}:{key.secret_key}".encode()).decode()
    for authorization in (f"Basic {token}", f"Bearer {key.secret_key}"):
        response = keyed.post(
            "/v1/traces", content=body, headers={**PROTOBUF, "authorization": authorization}
        )
        assert response.status_code == 200, response.text
    wrong = keyed.post(
        "/v1/traces", content=body, headers={**PROTOBUF, "authorization": "Bearer sk-wrong"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"  # JSON, not a dashboard page
