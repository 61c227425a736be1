"""Datasets from production: traces chosen by id or filter become items, once per trace."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.domain import DatasetCreate, ItemSource, TraceCreate
from assay.errors import InvalidInput, NotFound
from assay.store import Store
from tests.integration.otlp_support import PROTOBUF, export_request, new_span_id, new_trace_id, span


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:8]


def _record(store: Store, run: str) -> list[str]:
    """Four production traces: two prod answers, one staging, one without input."""
    batch = [
        TraceCreate.model_validate(t)
        for t in (
            {
                "id": f"a-{run}",
                "name": "answer",
                "input": {"q": "Capital of Japan?"},
                "output": {"a": "Tokyo"},
                "tags": ["prod", "geo"],
                "metadata": {"env": "prod", "model": {"name": "gpt-4o"}},
                "start_time": "2026-03-01T10:00:00Z",
            },
            {
                "id": f"b-{run}",
                "name": "answer",
                "input": "Speed of light?",
                "output": "299,792,458 m/s",
                "tags": ["prod"],
                "metadata": {"env": "prod", "model": {"name": "gpt-4o-mini"}},
                "start_time": "2026-03-02T10:00:00Z",
            },
            {
                "id": f"c-{run}",
                "name": "answer",
                "input": ["a", "list"],
                "output": "x",
                "tags": ["staging"],
                "metadata": {"env": "staging"},
                "start_time": "2026-03-03T10:00:00Z",
            },
            {"id": f"d-{run}", "name": "answer", "tags": ["prod"], "metadata": {"env": "prod"}},
            {"id": f"e-{run}", "name": "other", "input": "not an answer"},
        )
    ]
    store.traces.ingest(batch)
    return [t.id for t in batch if t.id]


def test_by_filter_with_the_default_mapping(client: Assay, store: Store, run: str) -> None:
    _record(store, run)
    client.datasets.create("from-prod")
    result = client.datasets.from_traces(
        "from-prod", filter={"name": "answer", "tags": ["prod"]}, message="prod answers"
    )
    assert (result.added, result.duplicates, result.skipped) == (2, 0, 1)  # d has no input
    assert result.version == 1
    assert result.trace_ids == [f"b-{run}", f"a-{run}"]  # newest first
    items = client.datasets.items("from-prod").items
    by_trace = {i.source_trace_id: i for i in items}
    first = by_trace[f"a-{run}"]
    assert first.input == {"q": "Capital of Japan?"}
    assert first.expected_output == {"a": "Tokyo"}
    assert first.metadata == {"env": "prod", "model": {"name": "gpt-4o"}}
    assert first.source is ItemSource.trace
    assert by_trace[f"b-{run}"].input == "Speed of light?"
    assert client.datasets.versions("from-prod")[0].message == "prod answers"

    # Again: every trace is already there, so nothing is added and no version is made.
    again = client.datasets.from_traces("from-prod", filter={"name": "answer", "tags": ["prod"]})
    assert (again.added, again.duplicates, again.version) == (0, 2, 1)
    assert len(client.datasets.items("from-prod").items) == 2


def test_metadata_and_time_filters(client: Assay, store: Store, run: str) -> None:
    _record(store, run)
    client.datasets.create("filtered")
    nested = client.datasets.from_traces(
        "filtered", filter={"metadata": {"model": {"name": "gpt-4o-mini"}}}
    )
    assert nested.trace_ids == [f"b-{run}"]
    window = client.datasets.from_traces(
        "filtered",
        filter={
            "since": datetime(2026, 3, 1, 12, tzinfo=UTC),
            "until": datetime(2026, 3, 3, 12, tzinfo=UTC),
        },
    )
    # b is in the window but already in the dataset; c's list input is wrapped.
    assert (window.added, window.duplicates) == (1, 1)
    item = next(
        i for i in client.datasets.items("filtered").items if i.source_trace_id == f"c-{run}"
    )
    assert item.input == {"input": ["a", "list"]}


def test_by_ids_with_a_field_mapping(client: Assay, store: Store, run: str) -> None:
    ids = _record(store, run)
    client.datasets.create("mapped")
    result = client.datasets.from_traces(
        "mapped",
        trace_ids=[ids[0], ids[1], ids[0]],
        mapping={
            "input": {"field": "input", "key": "q"},
            "expected_output": {"field": "metadata", "key": "model"},
            "metadata": None,
        },
    )
    assert (result.added, result.skipped) == (1, 1)  # b's input has no key q
    (item,) = client.datasets.items("mapped").items
    assert (item.input, item.expected_output) == ("Capital of Japan?", {"name": "gpt-4o"})
    assert item.metadata == {}

    with pytest.raises(NotFound, match="no trace"):
        client.datasets.from_traces("mapped", trace_ids=["missing-trace"])
    with pytest.raises(NotFound):
        client.datasets.from_traces("no-such-dataset", trace_ids=ids)
    with pytest.raises(InvalidInput):
        client.datasets.from_traces("mapped")


def test_from_a_named_span_of_otlp_traces(
    client: Assay, http: TestClient, store: Store, run: str
) -> None:
    """The retrieval step of an agent becomes the test case: its input and output, and the
    attributes of that span as item metadata."""
    trace_ids = []
    request = export_request()
    for n in range(3):
        trace_id, root, retrieve = new_trace_id(), new_span_id(), new_span_id()
        trace_ids.append(trace_id.hex())
        request.resource_spans[0].scope_spans[0].spans.extend(
            [
                span(trace_id, root, f"agent-{run}", attrs={"input.value": f"question {n}"}),
                span(
                    trace_id,
                    retrieve,
                    "retrieve",
                    parent=root,
                    attrs={
                        "openinference.span.kind": "RETRIEVER",
                        "input.value": json.dumps({"query": f"q{n}"}),
                        "output.value": json.dumps([f"doc-{n}"]),
                        "retrieval.top_k": 3,
                    },
                ),
            ]
        )
    response = http.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200

    store.datasets.create(DatasetCreate(name="retrieval"))
    result = client.datasets.from_traces(
        "retrieval",
        filter={"name": f"agent-{run}", "metadata": {"resource": {"service.name": "support-bot"}}},
        mapping={
            "input": {"span": "retrieve", "field": "input"},
            "expected_output": {"span": "retrieve", "field": "output"},
            "metadata": {"span": "retrieve", "field": "metadata", "key": "attributes"},
        },
    )
    assert result.added == 3
    items = {i.source_trace_id: i for i in client.datasets.items("retrieval").items}
    assert set(items) == set(trace_ids)
    first = items[trace_ids[0]]
    assert (first.input, first.expected_output) == ({"query": "q0"}, ["doc-0"])
    assert first.metadata == {"openinference.span.kind": "RETRIEVER", "retrieval.top_k": 3}


def test_concurrent_adds_keep_one_item_per_trace(store: Store, run: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from assay.domain.trace_items import FromTracesRequest
    from assay.service.trace_datasets import add_from_traces

    ids = _record(store, run)
    store.datasets.create(DatasetCreate(name="racy"))
    request = FromTracesRequest(trace_ids=ids[:3])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: add_from_traces(store, "racy", request), range(4)))
    assert sum(r.added for r in results) == 3
    items = store.datasets.list_items("racy", limit=100).items
    assert sorted(i.source_trace_id or "" for i in items) == sorted(ids[:3])
