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
    listed_here = http.get(f"/api/v1/dataset-runs/{run['id']}/results/", params={"limit": 2})
    assert listed_here.status_code == 200, listed_here.text
    assert listed_here.json()["results"] == results[:2]
    assert listed_here.json()["total"] == 3
    assert by_output["Go to Settings"]["observation_id"] == "gen-id-xyz"
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
    assert "row 2" in ragged.json()["error"]["message"]
    names = [
        r["tags"][0]["name"]
        for r in http.get("/api/v1/dataset-runs/", params={"dataset_name": qa}).json()["items"]
    ]
    assert names == ["csv-v1"]


def _run(http: TestClient, **fields: object) -> str:
    made = http.post(
        "/api/v1/dataset-runs/", json={"datasetName": "Support Agent QA", "name": "r", **fields}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_items_with_scores_set_the_verdict_and_replace_on_upload(
    http: TestClient, store: Store, qa: str
) -> None:
    items = store.datasets.list_items(qa).items
    run = _run(http)
    first = {
        "datasetItemId": items[0].id,
        "output": "Go to Settings",
        "scores": [
            {"name": "exact", "value": True, "passed": True, "reason": "same"},
            {"name": "sim", "value": 0.75, "passed": True},
        ],
    }
    second = {
        "datasetItemId": items[1].id,
        "output": "?",
        "scores": [
            {"name": "exact", "value": False, "passed": False},
            {"name": "label", "value": "off-topic", "dataType": "categorical"},
        ],
    }
    posted = http.post(f"/api/v1/dataset-runs/{run}/items/", json={"items": [first, second]})
    assert posted.status_code == 201, posted.text
    detail = http.get(f"/api/v1/experiments/{run}/").json()
    stats = {s["name"]: s for s in detail["summary"]["scores"]}
    assert (stats["exact"]["passed"], stats["exact"]["failed"]) == (1, 1)
    assert stats["sim"]["mean"] == 0.75
    assert detail["summary"]["passed"] == 1

    second["scores"] = [{"name": "exact", "value": True, "passed": True}]
    again = http.post(f"/api/v1/dataset-runs/{run}/items/", json={"items": [second]})
    assert again.json()["updated"] == 1
    rows = http.get(f"/api/v1/experiments/{run}/results/").json()["results"]
    by_item = {r["dataset_item_id"]: r for r in rows}
    redone = by_item[items[1].id]
    assert sorted((s["name"], s["source"]) for s in redone["scores"]) == [
        ("exact", "evaluator"),
        ("label", "evaluator"),
    ]
    assert redone["passed"] is True
    kept = by_item[items[0].id]
    assert {s["name"]: s["reason"] for s in kept["scores"]}["exact"] == "same"

    bad = {"datasetItemId": items[2].id, "output": "x", "scores": [{"name": "", "value": 1}]}
    refused = http.post(f"/api/v1/dataset-runs/{run}/items/", json={"items": [bad]})
    assert refused.status_code == 422
    assert http.get(f"/api/v1/dataset-runs/{run}/").json()["item_count"] == 2


def test_scoring_a_run_on_the_server(http: TestClient, store: Store, qa: str) -> None:
    items = store.datasets.list_items(qa).items
    run = _run(http)
    uploaded = [
        {
            "datasetItemId": i.id,
            "output": f"echo: {i.input['query']}" if n else "wrong",
            "scores": [{"name": "mine", "value": 1.0}],
        }
        for n, i in enumerate(items)
    ]
    assert http.post(f"/api/v1/dataset-runs/{run}/items/", json={"items": uploaded}).is_success
    for name, kind, params in (
        ("says-echo", "contains", {"value": "echo"}),
        ("mine", "length", {"max": 1}),
        ("short", "length", {"max": 100}),
    ):
        body = {"name": name, "kind": kind, "params": params}
        assert http.post("/api/v1/evaluators/", json=body).status_code == 201
    for name in ("says-echo", "mine"):
        attached = http.post(f"/api/v1/datasets/{qa}/evaluators/", json={"evaluator_id": name})
        assert attached.status_code == 201, attached.text

    report = http.post(f"/api/v1/dataset-runs/{run}/score/", json={"skip": ["mine"]})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["evaluators"] == ["says-echo"]  # attached, less the uploaded "mine"
    assert (body["results"], body["passed"], body["failed"]) == (3, 2, 1)
    again = http.post(f"/api/v1/dataset-runs/{run}/score/", json={"skip": ["mine"]}).json()
    assert again["scores"] == 3
    picked = http.post(f"/api/v1/dataset-runs/{run}/score/", json={"evaluators": ["short"]})
    assert picked.json()["evaluators"] == ["short"]

    scores = http.get("/api/v1/scores/", params={"experiment_id": run, "limit": 100}).json()
    names = sorted(s["name"] for s in scores["items"])
    assert names == sorted(["mine", "says-echo", "short"] * 3)  # replaced, never duplicated
    mine = [s for s in scores["items"] if s["name"] == "mine"]
    assert {s["numeric_value"] for s in mine} == {1.0}  # the uploaded score won

    none = http.post(f"/api/v1/dataset-runs/{run}/score/", json={"evaluators": []}).json()
    assert (none["evaluators"], none["results"]) == ([], 0)
    missing = http.post(f"/api/v1/dataset-runs/{run}/score/", json={"evaluators": ["nope"]})
    assert missing.status_code == 404
    assert http.post("/api/v1/dataset-runs/nope/score/", json={}).status_code == 404


def test_a_run_pins_an_earlier_dataset_version(http: TestClient, store: Store, qa: str) -> None:
    items = store.datasets.list_items(qa).items
    old = store.datasets.get(qa).version
    http.delete(f"/api/v1/datasets/{qa}/items/{items[0].id}/")
    run = _run(http, datasetVersion=old)
    posted = http.post(
        f"/api/v1/dataset-runs/{run}/items/",
        json={"items": [{"datasetItemId": items[0].id, "output": "kept"}]},
    )
    assert posted.status_code == 201, posted.text  # the deleted item is in that version
    later = http.post(
        "/api/v1/dataset-runs/",
        json={"datasetName": "Support Agent QA", "name": "r", "datasetVersion": old + 5},
    )
    assert later.status_code == 404
