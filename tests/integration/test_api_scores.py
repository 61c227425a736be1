"""Human and API scores through the API: on results and traces, replaced by name and source."""

from __future__ import annotations

from fastapi.testclient import TestClient


def run_result(http: TestClient) -> str:
    run = http.post(
        "/api/v1/dataset-runs/", json={"datasetName": "Support Agent QA", "name": "r"}
    ).json()
    written = http.post(
        f"/api/v1/dataset-runs/{run['id']}/items/",
        json={"items": [{"input": {"query": "reset password"}, "output": "Go to Settings"}]},
    ).json()
    return str(written["result_ids"][0])


def test_scores_on_results_and_traces(http: TestClient, qa: str) -> None:
    result_id = run_result(http)
    added = http.post(
        "/api/v1/scores/",
        json={"result_id": result_id, "name": "helpful", "value": 4, "source": "human"},
    )
    assert added.status_code == 201, added.text
    score = added.json()
    assert (score["data_type"], score["numeric_value"], score["source"]) == (
        "numeric",
        4.0,
        "human",
    )
    replaced = http.post(
        "/api/v1/scores/",
        json={"result_id": result_id, "name": "helpful", "value": 5, "source": "human"},
    ).json()
    assert replaced["id"] == score["id"]
    assert replaced["numeric_value"] == 5.0
    http.post(
        "/api/v1/scores/", json={"result_id": result_id, "name": "helpful", "value": True}
    )  # an api score of the same name is another score
    listed = http.get("/api/v1/scores/", params={"result_id": result_id}).json()["items"]
    assert [(s["source"], s["data_type"]) for s in listed] == [
        ("human", "numeric"),
        ("api", "boolean"),
    ]
    run_id = http.get("/api/v1/experiments/").json()["items"][0]["id"]
    shown = http.get(f"/api/v1/experiments/{run_id}/results/").json()["results"][0]["scores"]
    assert sorted((s["name"], s["source"]) for s in shown) == [
        ("helpful", "api"),
        ("helpful", "human"),
    ]

    http.post("/api/v1/traces/", json={"traces": [{"id": "t-1", "input": "q"}]})
    on_trace = http.post(
        "/api/v1/scores/", json={"trace_id": "t-1", "name": "tone", "value": "polite"}
    ).json()
    assert on_trace["string_value"] == "polite"
    assert on_trace["result_id"] is None
    assert http.get(f"/api/v1/scores/{on_trace['id']}/").json() == on_trace

    for body, status, field in (
        ({"name": "x", "value": 1}, 422, "result_id"),
        ({"result_id": result_id, "trace_id": "t-1", "name": "x", "value": 1}, 422, "result_id"),
        ({"result_id": "nope", "name": "x", "value": 1}, 404, "result_id"),
        ({"trace_id": "nope", "name": "x", "value": 1}, 404, "trace_id"),
        ({"result_id": result_id, "name": "x", "value": 1, "source": "evaluator"}, 422, "source"),
        (
            {"result_id": result_id, "name": "x", "value": "a", "data_type": "numeric"},
            422,
            "value",
        ),
    ):
        response = http.post("/api/v1/scores/", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["details"]["field"] == field, response.text

    assert http.delete(f"/api/v1/scores/{score['id']}/").status_code == 204
    assert http.get(f"/api/v1/scores/{score['id']}/").status_code == 404
    assert http.delete(f"/api/v1/scores/{score['id']}/").status_code == 404
