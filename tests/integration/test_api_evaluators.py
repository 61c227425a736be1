"""Saved evaluators through the API: versions, validation, dataset attachments."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_evaluator_crud_versions_and_attachments(http: TestClient, qa: str) -> None:
    body = {"name": "says-echo", "kind": "contains", "params": {"value": "echo"}}
    first = http.post("/api/v1/evaluators/", json=body)
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert (v1["version"], v1["kind"]) == (1, "contains")
    v2 = http.post("/api/v1/evaluators/", json={**body, "params": {"value": "Echo"}}).json()
    assert v2["version"] == 2
    listed = http.get("/api/v1/evaluators/").json()["items"]
    assert [(e["name"], e["version"]) for e in listed] == [("says-echo", 2)]
    assert http.get("/api/v1/evaluators/says-echo/", params={"version": 1}).json()["id"] == v1["id"]
    versions = http.get(f"/api/v1/evaluators/{v1['id']}/versions/").json()
    assert [v["version"] for v in versions] == [2, 1]

    unknown = http.post("/api/v1/evaluators/", json={"name": "x", "kind": "no_such_scorer"})
    assert unknown.status_code == 422
    bad = http.post(
        "/api/v1/evaluators/", json={"name": "x", "kind": "contains", "params": {"nope": 1}}
    )
    assert bad.status_code == 422, bad.text
    assert [e["name"] for e in http.get("/api/v1/evaluators/").json()["items"]] == ["says-echo"]

    attached = http.post(f"/api/v1/datasets/{qa}/evaluators/", json={"evaluator_id": "says-echo"})
    assert attached.status_code == 201, attached.text
    assert attached.json()["id"] == v2["id"]
    assert [e["id"] for e in http.get(f"/api/v1/datasets/{qa}/evaluators/").json()] == [v2["id"]]
    detached = http.delete(f"/api/v1/datasets/{qa}/evaluators/says-echo/")
    assert detached.status_code == 204
    assert http.get(f"/api/v1/datasets/{qa}/evaluators/").json() == []
    missing = http.post(f"/api/v1/datasets/{qa}/evaluators/", json={"evaluator_id": "nope"})
    assert missing.status_code == 404

    assert http.delete(f"/api/v1/evaluators/{v1['id']}/").status_code == 204
    assert [v["version"] for v in http.get("/api/v1/evaluators/says-echo/versions/").json()] == [2]
    assert http.delete("/api/v1/evaluators/says-echo/").status_code == 204
    assert http.get("/api/v1/evaluators/says-echo/").status_code == 404
