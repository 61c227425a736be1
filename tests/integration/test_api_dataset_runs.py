"""Dataset runs with uploaded outputs: SDK-shaped create/create_items, CSV upload, export."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from assay.store import Store


def test_create_and_items_as_the_sdk_docs_show(http: TestClient, store: Store, qa: str) -> None:
    made = http.post(
        "/api/v1/dataset-runs/",
        json={
            "datasetName": "Support Agent QA",
            "name": "gpt-4o-run-1",
            "description": "GPT-4o baseline evaluation",
            "tag": "production-v1",
        },
    )
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["tags"][0]["name"] == "production-v1"
    assert run["tags"][0]["id"]
    assert (run["external"], run["status"], run["item_count"]) == (True, "completed", 0)

    items = store.datasets.list_items(qa).items
    body = {
        "datasetName": "Support Agent QA",
        "items": [
            {
                "input": {"query": "reset password"},
                "expectedOutput": {"answer": "Settings"},
                "output": "Go to Settings",
                "traceId": "trace-id-abc",
                "observationId": "gen-id-xyz",
            },
            {"datasetItemId": items[1].id, "output": "Free, Pro"},
            {"input": {"query": "not in the dataset"}, "output": "?"},
        ],
    }
    added = http.post(f"/api/v1/dataset-runs/{run['id']}/items/", json=body)
    assert added.status_code == 201, added.text
    assert (added.json()["created"], added.json()["updated"]) == (3, 0)
    again = http.post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        json={"items": [{"datasetItemId": items[1].id, "output": "Free, Pro, Enterprise"}]},
    ).json()
    assert (again["created"], again["updated"]) == (0, 1)

    results = http.get(f"/api/v1/experiments/{run['id']}/results/").json()["results"]
    by_output = {r["output"]: r for r in results}
    assert by_output["Go to Settings"]["dataset_item_id"] == items[0].id
    assert by_output["Free, Pro, Enterprise"]["item_input"] == {"query": "pricing plans"}
    assert by_output["?"]["dataset_item_id"] is None
    assert len(results) == 3
    lines = http.get(f"/api/v1/dataset-runs/{run['id']}/export/").text.splitlines()
    assert {orjson.loads(line)["output"] for line in lines} == set(by_output)
    listed = http.get("/api/v1/dataset-runs/", params={"dataset_name": "Support Agent QA"}).json()
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    assert listed["items"][0]["item_count"] == 3


def test_bad_items_are_refused_whole(http: TestClient, qa: str) -> None:
    run = http.post(
        "/api/v1/dataset-runs/", json={"datasetName": "Support Agent QA", "name": "r"}
    ).json()
    bad = http.post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        json={"items": [{"input": {"query": "reset password"}, "output": "a"}, {"output": "b"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "items[1].input"
    unknown = http.post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        json={"items": [{"datasetItemId": "nope", "output": "a"}]},
    )
    assert unknown.status_code == 404
    twice = http.post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        json={
            "items": [
                {"input": {"query": "reset password"}, "output": "a"},
                {"input": {"query": "reset password"}, "output": "b"},
            ]
        },
    )
    assert twice.status_code == 422
    other = http.post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        json={"datasetName": "elsewhere", "items": [{"input": "x"}]},
    )
    assert other.status_code == 404
    assert http.get(f"/api/v1/dataset-runs/{run['id']}/").json()["item_count"] == 0
    missing = http.post("/api/v1/dataset-runs/", json={"datasetName": "nope", "name": "r"})
    assert missing.status_code == 404


def test_csv_upload_under_a_run_tag(http: TestClient, qa: str) -> None:
    csv_text = (
        "input,expected_output,output,trace_id\n"
        '"{""query"": ""reset password""}",,Go to Settings,t-1\n'
        '"{""query"": ""contact support""}",,Email us,t-2\n'
    )
    params = {"dataset_name": "Support Agent QA", "tag": "csv-v1"}
    preview = http.post(
        "/api/v1/dataset-runs/upload/",
        params={**params, "preview": True},
        content=csv_text,
        headers={"content-type": "text/csv"},
    ).json()
    assert preview["rows"] == 2
    assert preview["dataset_run"] is None
    assert preview["preview"][0]["input"] == {"query": "reset password"}
    assert http.get("/api/v1/dataset-runs/", params={"dataset_name": qa}).json()["items"] == []

    up = http.post(
        "/api/v1/dataset-runs/upload/",
        params=params,
        files={"file": ("run.csv", csv_text.encode(), "text/csv")},
    )
    assert up.status_code == 200, up.text
    run = up.json()["dataset_run"]
    assert run["tags"][0]["name"] == "csv-v1"
    assert run["item_count"] == 2
    again = http.post(
        "/api/v1/dataset-runs/upload/",
        params=params,
        content=csv_text,
        headers={"content-type": "text/csv"},
    ).json()
    assert again["dataset_run"]["id"] == run["id"]
    assert again["written"]["updated"] == 2
    assert again["dataset_run"]["item_count"] == 2

    bad = http.post(
        "/api/v1/dataset-runs/upload/",
        params={**params, "tag": "csv-bad"},
        content="input,colour\n1,2\n",
        headers={"content-type": "text/csv"},
    )
    assert bad.status_code == 422
    assert "colour" in bad.json()["error"]["message"]
    ragged = http.post(
        "/api/v1/dataset-runs/upload/",
        params={**params, "tag": "csv-bad"},
        content="input,output\n1\n",
        headers={"content-type": "text/csv"},
    )
    assert ragged.status_code == 422
    assert "line 2" in ragged.json()["error"]["message"]
    names = [
        r["tags"][0]["name"]
        for r in http.get("/api/v1/dataset-runs/", params={"dataset_name": qa}).json()["items"]
    ]
    assert names == ["csv-v1"]
