"""Unusual but valid-looking values are stored or refused with a 422, never a 500."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay
from assay.errors import InvalidInput
from assay.store import Store


def test_early_years_round_trip(client: Assay) -> None:
    trace_id = f"old-{uuid.uuid4().hex}"
    client.traces.ingest([{"id": trace_id, "start_time": "0130-01-02T22:51:56Z"}])
    assert client.traces.get(trace_id).start_time.year == 130  # type: ignore[union-attr]
    assert trace_id in [t.id for t in client.traces.list(limit=1000).items]


def test_numbers_beyond_64_bits_are_kept_exactly_or_refused(client: Assay, store: Store) -> None:
    """PostgreSQL stores them exactly; SQLite's JSON text cannot, so it refuses them."""
    if store.db.is_sqlite:
        with pytest.raises(InvalidInput, match="cannot store value"):
            client.prompts.create("p", template="x", model_config={"seed": 2**70})
    else:
        prompt = client.prompts.create("p", template="x", model_config={"seed": 2**70})
        assert prompt.model_config_ == {"seed": 2**70}
        assert client.prompts.get("p").model_config_ == {"seed": 2**70}
    dataset = client.datasets.create("d")
    try:
        client.datasets.create_item(dataset.id, {"input": {"n": 2**70}})
    except InvalidInput:
        assert client.datasets.get(dataset.id).item_count == 0
    else:
        assert client.datasets.items(dataset.id).items[0].input == {"n": 2**70}


def test_nul_text_is_stored_or_refused(client: Assay, http: TestClient) -> None:
    response = http.post("/api/v1/prompts/", json={"name": "nul", "template": "a\u0000b"})
    assert response.status_code in (201, 422)
    if response.status_code == 422:
        assert response.json()["error"]["code"] == "invalid_input"


def test_null_for_required_dataset_fields(client: Assay) -> None:
    dataset = client.datasets.create("d", tags=["x"])
    for field in ("metadata", "tags", "name"):
        with pytest.raises(InvalidInput) as info:
            client.datasets.update(dataset.id, **{field: None})
        assert info.value.field == field
    assert client.datasets.get(dataset.id).tags == ["x"]


def test_export_of_a_non_ascii_name(http: TestClient, client: Assay) -> None:
    dataset = client.datasets.create("Qualität 𒆆 set")
    client.datasets.create_item(dataset.id, {"input": "x"})
    response = http.get(f"/api/v1/datasets/{dataset.id}/export/")
    assert response.status_code == 200
    assert 'filename="Qualit_t___set-v1.jsonl"' in response.headers["content-disposition"]


def test_out_of_range_integers(client: Assay, http: TestClient) -> None:
    client.prompts.create("p", template="x")
    response = http.get("/api/v1/prompts/p/", params={"version": 2**63})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "version"
    response = http.put(
        "/api/v1/prompts/p/versions/9223372036854775808/labels/", json={"labels": []}
    )
    assert response.status_code == 422
    dataset = client.datasets.create("d")
    with pytest.raises(InvalidInput):
        client.datasets.create_item(dataset.id, {"input": "x", "sort_order": 2**63})
    assert client.datasets.get(dataset.id).item_count == 0
