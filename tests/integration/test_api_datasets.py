"""Datasets and items over HTTP, through the SDK client, on both databases."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay, AsyncAssay
from assay.domain import ItemCreate, ItemSource
from assay.errors import Conflict, InvalidInput, NotFound

SEED_ITEMS = [
    {
        "input": {"query": "How do I reset my password?"},
        "expected_output": {"answer": "Go to Settings > Security > Reset Password"},
    },
    {
        "input": {"query": "What are your pricing plans?"},
        "expected_output": {"answer": "We offer Free, Pro, and Enterprise plans"},
    },
    {
        "input": {"query": "How do I contact support?"},
        "expected_output": {"answer": "Email support@example.com or use the in-app chat"},
    },
]


def test_create_get_update_delete(client: Assay) -> None:
    created = client.datasets.create(
        "Support Agent QA", "Test cases for the support agent", tags=["support", "qa"]
    )
    assert created.name == "Support Agent QA"
    assert created.tags == ["support", "qa"]
    assert created.version == 0

    by_name = client.datasets.get("Support Agent QA")
    assert by_name.id == created.id
    assert by_name.recent_items == []

    updated = client.datasets.update(created.id, description="changed", tags=["qa"])
    assert updated.description == "changed"
    assert updated.tags == ["qa"]
    assert updated.name == "Support Agent QA"

    with pytest.raises(Conflict):
        client.datasets.create("Support Agent QA")
    client.datasets.delete(created.id)
    with pytest.raises(NotFound):
        client.datasets.get(created.id)


def test_list_search_tags_sort_and_cursor(client: Assay) -> None:
    for i in range(5):
        client.datasets.create(f"set-{i}", tags=["even" if i % 2 == 0 else "odd"])
    page = client.datasets.list(sort="name", limit=2)
    names = [d.name for d in page.items]
    while page.next_cursor:
        page = client.datasets.list(sort="name", limit=2, cursor=page.next_cursor)
        names += [d.name for d in page.items]
    assert names == [f"set-{i}" for i in range(5)]
    assert {d.name for d in client.datasets.list(tag="even").items} == {"set-0", "set-2", "set-4"}
    assert [d.name for d in client.datasets.list(search="SET-3").items] == ["set-3"]
    assert [d.name for d in client.datasets.list(sort="-name", limit=1).items] == ["set-4"]


def test_list_rejects_bad_query(http: TestClient) -> None:
    response = http.get("/api/v1/datasets/", params={"sort": "size"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["field"] == "sort"
    response = http.get("/api/v1/datasets/", params={"cursor": "!!!"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "cursor"


def test_items_crud_and_detail_with_recent_items(client: Assay) -> None:
    dataset = client.datasets.create("qa")
    item = client.datasets.create_item(
        dataset.id,
        {
            "input": {"query": "How do I reset my password?"},
            "expected_output": {"answer": "Go to Settings > Security > Reset Password"},
            "context": {"category": "account"},
        },
    )
    assert item.context == {"category": "account"}
    assert item.sort_order == 0
    assert client.datasets.get_item(dataset.id, item.id) == item

    changed = client.datasets.update_item(dataset.id, item.id, expected_output={"answer": "x"})
    assert changed.expected_output == {"answer": "x"}
    assert changed.input == item.input
    # The old state is still readable at the version it belonged to.
    assert client.datasets.get_item(dataset.id, item.id, version=1).expected_output == {
        "answer": "Go to Settings > Security > Reset Password"
    }

    detail = client.datasets.get(dataset.id)
    assert [i.id for i in detail.recent_items] == [item.id]
    assert detail.item_count == 1

    client.datasets.delete_item(dataset.id, item.id)
    with pytest.raises(NotFound):
        client.datasets.get_item(dataset.id, item.id)
    assert client.datasets.items(dataset.id).items == []
    assert [v.version for v in client.datasets.versions(dataset.id)] == [3, 2, 1]


def test_item_validation_names_the_field(client: Assay) -> None:
    dataset = client.datasets.create("qa")
    with pytest.raises(InvalidInput) as info:
        client.datasets.create_item(dataset.id, {"expected_output": "no input"})
    assert info.value.field == "input"
    with pytest.raises(InvalidInput) as info:
        client.datasets.create_item(dataset.id, {"input": "x", "bogus": 1})
    assert info.value.field == "bogus"
    assert client.datasets.get(dataset.id).version == 0


def test_seed_json_import(client: Assay) -> None:
    dataset = client.datasets.create("qa")
    result = client.datasets.import_(dataset.id, items=SEED_ITEMS)
    assert (result.dataset_id, result.imported, result.total_items) == (dataset.id, 3, 3)
    items = client.datasets.items(dataset.id).items
    assert [i.input for i in items] == [s["input"] for s in SEED_ITEMS]
    assert {i.source for i in items} == {ItemSource.import_}


def test_import_with_a_bad_row_imports_nothing(http: TestClient, client: Assay) -> None:
    dataset = client.datasets.create("qa")
    body = {"items": [SEED_ITEMS[0], {"expected_output": "missing input"}]}
    response = http.post(f"/api/v1/datasets/{dataset.id}/import/", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["row"] == 2
    assert error["details"]["field"] == "items.1.input"
    assert client.datasets.get(dataset.id).item_count == 0
    response = http.post(
        f"/api/v1/datasets/{dataset.id}/import/",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert client.datasets.get(dataset.id).version == 0


def test_file_import_csv_and_jsonl(client: Assay) -> None:
    dataset = client.datasets.create("files")
    csv = b"question,answer\nCapital of Japan?,Tokyo\nSpeed of light?,299792458 m/s\n"
    result = client.datasets.import_(
        dataset.id,
        file=("trivia.csv", csv),
        mapping={"question": "input.q", "answer": "expected_output.a"},
    )
    assert (result.imported, result.total_items) == (2, 2)
    first = client.datasets.items(dataset.id).items[0]
    assert first.input == {"q": "Capital of Japan?"}
    assert first.expected_output == {"a": "Tokyo"}

    jsonl = b'{"input": "a"}\n{"input": "b", "expected_output": "B"}\n'
    result = client.datasets.import_(dataset.id, file=("more.data", jsonl), format="jsonl")
    assert (result.imported, result.total_items) == (2, 4)


def test_file_import_error_names_the_row(client: Assay) -> None:
    dataset = client.datasets.create("files")
    jsonl = b'{"input": "a"}\n{"expected_output": "no input"}\n'
    with pytest.raises(InvalidInput) as info:
        client.datasets.import_(dataset.id, file=("bad.jsonl", jsonl))
    assert info.value.row == 2
    with pytest.raises(InvalidInput) as info:
        client.datasets.import_(dataset.id, file=("bad.txt", b"x"))
    assert info.value.field == "format"
    assert client.datasets.get(dataset.id).version == 0


def test_seed_000_sdk_calls(client: Assay) -> None:
    client.datasets.create(name="trivia-set", description="Trivia QA dataset")
    result = client.datasets.create_items(
        dataset_name="trivia-set",
        items=[
            {"input": {"q": "Capital of Japan?"}, "expectedOutput": {"a": "Tokyo"}},
            {"input": {"q": "Speed of light?"}, "expectedOutput": {"a": "299,792,458 m/s"}},
            ItemCreate(input={"q": "Largest ocean?"}, expected_output={"a": "Pacific"}),
        ],
    )
    assert (result.imported, result.total_items) == (3, 3)
    items = client.datasets.items("trivia-set").items
    assert [i.expected_output for i in items] == [
        {"a": "Tokyo"},
        {"a": "299,792,458 m/s"},
        {"a": "Pacific"},
    ]
    with pytest.raises(NotFound):
        client.datasets.create_items(dataset_name="missing", items=[{"input": "x"}])


def test_from_run_turns_a_trace_into_an_item(client: Assay) -> None:
    dataset = client.datasets.create("regressions")
    run_id = f"run-{uuid.uuid4().hex}"
    client.traces.ingest(
        [
            {
                "id": run_id,
                "name": "support-agent",
                "input": {"query": "Where is my order?"},
                "output": {"answer": "It ships tomorrow"},
                "metadata": {"workflow": "order-status"},
            }
        ]
    )
    item = client.datasets.from_run(dataset.id, run_id)
    assert item.input == {"query": "Where is my order?"}
    assert item.expected_output == {"answer": "It ships tomorrow"}
    assert item.context == {"agent_name": "support-agent", "workflow": "order-status"}
    assert item.source == ItemSource.trace
    assert item.source_trace_id == run_id
    with pytest.raises(NotFound):
        client.datasets.from_run(dataset.id, "run-missing")


def test_versions_diff_and_export(client: Assay) -> None:
    dataset = client.datasets.create("versions")
    client.datasets.import_(dataset.id, items=SEED_ITEMS)
    first = client.datasets.items(dataset.id).items[0]
    client.datasets.update_item(dataset.id, first.id, expected_output={"answer": "new"})
    client.datasets.create_item(dataset.id, {"input": "late"})

    versions = client.datasets.versions(dataset.id)
    assert [(v.version, v.added, v.changed) for v in versions] == [(3, 1, 0), (2, 0, 1), (1, 3, 0)]
    diff = client.datasets.diff(dataset.id, 1)
    assert (diff.added, diff.changed, diff.removed, diff.to_version) == (1, 1, 0, 3)

    lines = client.datasets.export(dataset.id, format="jsonl", version=1).splitlines()
    assert [json.loads(line)["input"] for line in lines] == [s["input"] for s in SEED_ITEMS]
    csv = client.datasets.export(dataset.id, format="csv").decode()
    assert csv.splitlines()[0].startswith("id,input,expected_output")
    assert "late" in csv
    with pytest.raises(NotFound):
        client.datasets.export(dataset.id, version=9)
    out = io.BytesIO()
    assert client.datasets.export_to(dataset.id, out, format="csv") == len(csv.encode())
    assert out.getvalue().decode() == csv
    with pytest.raises(NotFound):
        client.datasets.export_to(dataset.id, io.BytesIO(), version=9)


def test_export_headers(http: TestClient, client: Assay) -> None:
    dataset = client.datasets.create("Support Agent QA")
    client.datasets.import_(dataset.id, items=SEED_ITEMS)
    response = http.get(f"/api/v1/datasets/{dataset.id}/export/", params={"format": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert 'filename="Support_Agent_QA-v1.json"' in response.headers["content-disposition"]
    assert len(response.json()) == 3


async def test_async_client_twin(aclient: AsyncAssay) -> None:
    dataset = await aclient.datasets.create("async-set", tags=["a"])
    await aclient.datasets.create_items("async-set", [{"input": "x", "expectedOutput": "y"}])
    page = await aclient.datasets.items(dataset.id)
    assert [(i.input, i.expected_output) for i in page.items] == [("x", "y")]
    assert (await aclient.datasets.get("async-set")).item_count == 1
    with pytest.raises(NotFound):
        await aclient.datasets.get("nope")
    out = io.BytesIO()
    written = await aclient.datasets.export_to("async-set", out, format="json")
    assert written == len(out.getvalue())
    assert json.loads(out.getvalue())[0]["input"] == "x"
