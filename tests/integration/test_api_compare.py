"""Compare, gate and compare-prompt-versions through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import PromptCreate
from assay.store import Store
from tests.fakes.provider import FakeProvider, Fault
from tests.integration.experiment_support import prompt_body, run_worker


def two_runs(
    http: TestClient, store: Store, settings: Settings, qa: str, fake: FakeProvider
) -> list[str]:
    ids = []
    for model, tag in (("gpt-4o", "baseline"), ("gpt-4o-mini", None)):
        body = prompt_body(qa, fake, name=f"{model} on QA", run_tag=tag)
        body["config"]["model"] = model
        exp = http.post("/api/v1/experiments/", json=body).json()
        http.post(f"/api/v1/experiments/{exp['id']}/start/")
        ids.append(exp["id"])
    run_worker(store, settings)
    return ids


def test_compare_seed_shape_with_statistics(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    fake.when("mini", *[Fault(400)] * 10)
    a, b = two_runs(http, store, api_settings, qa, fake)
    posted = http.post("/api/v1/experiments/compare/", json={"experiment_ids": [a, b]})
    assert posted.status_code == 200, posted.text
    body = posted.json()
    assert body["experiments"][a]["name"] == "gpt-4o on QA"
    assert body["experiments"][b]["config"]["model"] == "gpt-4o-mini"
    assert body["experiments"][a]["status"] == "completed"
    assert body["total_items"] == 3
    first = body["comparisons"][0]
    assert first["dataset_item"]["input"] == {"query": "reset password"}
    assert set(first["results"]) == {a, b}
    cell = first["results"][a]
    assert cell["status"] == "completed"
    assert cell["output"] == "echo: Answer: reset password"
    assert cell["run_id"]
    assert cell["latency_ms"] is not None
    failed = body["comparisons"][1]["results"][b]
    assert failed["status"] == "failed"
    assert failed["error"]
    stats = body["statistics"]
    assert stats["baseline_id"] == a
    assert [r["run_id"] for r in stats["runs"]] == [a, b]
    assert stats["regressions"] == {b: 3}  # contains "echo" passed on a, b failed every item
    assert "contains" in [m["name"] for m in stats["metrics"]]

    linked = http.get("/api/v1/experiments/compare/", params={"experiment_ids": f"{a},{b}"})
    assert linked.json()["comparisons"] == body["comparisons"]
    paged = http.post(
        "/api/v1/experiments/compare/", json={"experiment_ids": [a, b], "offset": 2, "limit": 5}
    ).json()
    assert [c["dataset_item"]["input"]["query"] for c in paged["comparisons"]] == [
        "contact support"
    ]
    for bad, status in (([a], 422), ([a, a], 422), ([a, "nope"], 404)):
        response = http.post("/api/v1/experiments/compare/", json={"experiment_ids": bad})
        assert response.status_code == status, response.text
    assert http.get("/api/v1/experiments/compare/", params={"experiment_ids": a}).status_code == 422


def test_gate_verdict(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    a, b = two_runs(http, store, api_settings, qa, fake)
    alone = http.get(f"/api/v1/experiments/{b}/gate/")
    assert alone.status_code == 200, alone.text
    verdict = alone.json()
    assert verdict["passed"] is True
    assert verdict["baseline_id"] is None
    tagged = http.get(f"/api/v1/experiments/{b}/gate/", params={"baseline_tag": "baseline"}).json()
    assert tagged["baseline_id"] == a
    assert tagged["passed"] is True
    by_id = http.get(f"/api/v1/experiments/{b}/gate/", params={"baseline": a}).json()
    assert by_id["baseline_id"] == a
    missing = http.get(f"/api/v1/experiments/{a}/gate/", params={"baseline_tag": "nope"})
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["field"] == "baseline_tag"
    pending = http.post("/api/v1/experiments/", json=prompt_body(qa, fake)).json()
    assert http.get(f"/api/v1/experiments/{pending['id']}/gate/").status_code == 409


def test_compare_prompt_versions_creates_and_starts_the_pair(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    store.prompts.create(
        PromptCreate(name="support-system-prompt", template="V2 {{ input.query }}")
    )
    response = http.post(
        f"/api/v1/datasets/{qa}/compare-prompt-versions/",
        json={
            "prompt_name": "support-system-prompt",
            "version_a": 1,
            "version_b": 2,
            "model": "gpt-4o-mini",
            "base_url": fake.openai_url,
            "scorers": [{"name": "contains", "params": {"value": "V2"}}],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    a, b = body["experiment_a"], body["experiment_b"]
    assert a["name"] == "support-system-prompt-v1-vs-v2-a"
    assert a["version"] == 1
    assert b["name"] == "support-system-prompt-v1-vs-v2-b"
    assert b["version"] == 2
    assert body["compare_url"] == f"/api/v1/experiments/compare/?experiment_ids={a['id']},{b['id']}"
    assert run_worker(store, api_settings).runs == 2
    compared = http.get(body["compare_url"]).json()
    outputs = dict(compared["comparisons"][0]["results"].items())
    assert outputs[a["id"]]["output"] == "echo: Answer: reset password"
    assert outputs[b["id"]]["output"] == "echo: V2 reset password"
    assert (outputs[a["id"]]["passed"], outputs[b["id"]]["passed"]) == (False, True)

    before = len(http.get("/api/v1/experiments/").json()["items"])
    bad = http.post(
        f"/api/v1/datasets/{qa}/compare-prompt-versions/",
        json={
            "prompt_name": "support-system-prompt",
            "version_a": 1,
            "version_b": 9,
            "model": "m",
            "base_url": fake.openai_url,
        },
    )
    assert bad.status_code == 404, bad.text
    assert bad.json()["error"]["details"]["field"] == "config.prompt_version", bad.text
    assert len(http.get("/api/v1/experiments/").json()["items"]) == before
