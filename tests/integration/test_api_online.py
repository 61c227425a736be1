"""Online rules through the REST API and the SDK clients, and online scores over time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assay.client import Assay, AsyncAssay
from assay.config import Settings
from assay.domain import EvaluatorCreate, TraceCreate
from assay.errors import Conflict, InvalidInput, NotFound
from assay.service.online import OnlineEvaluator
from assay.store import Store


@pytest.fixture
def saved(store: Store) -> None:
    store.evaluators.create(
        EvaluatorCreate(name="says-paris", kind="contains", params={"value": "Paris"})
    )
    store.evaluators.create(EvaluatorCreate(name="short", kind="length", threshold={"lte": 5}))


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.mark.usefixtures("saved")
def test_rule_crud_and_validation_over_http(http: TestClient) -> None:
    body = {
        "name": "capitals",
        "filter": {"name": "chat-*", "tags": ["prod"], "metadata": {"tier": "pro"}},
        "sample_rate": 0.5,
        "evaluators": [
            {"evaluator": "says-paris", "mapping": {"output": "trace.generation.output"}},
            {"evaluator": "short", "version": 1},
        ],
    }
    created = http.post("/api/v1/online-rules/", json=body)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["enabled"] is True
    assert rule["filter"]["name"] == "chat-*"
    assert rule["evaluators"][1] == {"evaluator": "short", "version": 1, "mapping": {}}
    assert rule["created_at"] == rule["updated_at"]

    again = http.post("/api/v1/online-rules/", json=body)
    assert again.status_code == 409
    assert _error(again)["details"]["field"] == "name"

    by_name = http.get("/api/v1/online-rules/capitals/").json()
    assert by_name["id"] == rule["id"]
    paused = http.put(f"/api/v1/online-rules/{rule['id']}/", json={"enabled": False})
    assert paused.status_code == 200, paused.text
    assert paused.json()["enabled"] is False
    assert paused.json()["sample_rate"] == 0.5  # untouched fields keep their values
    assert paused.json()["updated_at"] > rule["updated_at"]
    assert http.get("/api/v1/online-rules/", params={"enabled": "true"}).json()["items"] == []
    assert [r["name"] for r in http.get("/api/v1/online-rules/").json()["items"]] == ["capitals"]

    cases = [
        ({"sample_rate": 2}, "sample_rate", "between 0 and 1"),
        ({"filter": {"name": "chat-[x"}}, "filter.name", "unclosed '['"),
        ({"evaluators": [{"evaluator": "ghost"}]}, "evaluators[0].evaluator", "not found"),
        (
            {"evaluators": [{"evaluator": "short", "mapping": {"output": "outputs.x"}}]},
            "evaluators[0].mapping.output",
            "must start with one of",
        ),
    ]
    for change, field, words in cases:
        refused = http.post("/api/v1/online-rules/", json={**body, "name": "other", **change})
        assert refused.status_code == 422, refused.text
        assert _error(refused)["details"]["field"] == field
        assert words in _error(refused)["message"]
        bad_update = http.put(f"/api/v1/online-rules/{rule['id']}/", json=change)
        assert bad_update.status_code == 422
    unknown_field = http.post("/api/v1/online-rules/", json={**body, "name": "x", "rate": 1})
    assert unknown_field.status_code == 422
    assert http.get(f"/api/v1/online-rules/{rule['id']}/").json() == paused.json()

    assert http.delete(f"/api/v1/online-rules/{rule['id']}/").status_code == 204
    assert http.get(f"/api/v1/online-rules/{rule['id']}/").status_code == 404
    assert http.delete(f"/api/v1/online-rules/{rule['id']}/").status_code == 404


@pytest.mark.usefixtures("saved")
def test_sdk_rules_and_scores_over_time(client: Assay, store: Store, settings: Settings) -> None:
    rule = client.online_rules.create(
        "capitals", ["says-paris", {"evaluator": "short"}], filter={"tags": ["prod"]}
    )
    other = client.online_rules.create("all", ["says-paris"])
    assert client.online_rules.disable("all").enabled is False
    assert client.online_rules.enable("all").enabled is True
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        client.online_rules.create("bad", ["short"], sample_rate=-1)
    with pytest.raises(Conflict):
        client.online_rules.create("all", ["short"])
    with pytest.raises(NotFound):
        client.online_rules.get("nope")

    traces = [
        TraceCreate(id=f"t{i}", output="Paris" if i < 3 else "Rome", tags=["prod"] if i % 2 else [])
        for i in range(6)
    ]
    client.traces.ingest([t.model_dump(exclude_unset=True) for t in traces])
    online = OnlineEvaluator(
        settings.model_copy(update={"online_settle_s": 0.0}),
        store.db,
        project_ids=[store.project_id],
    )
    report = asyncio.run(online.run_once())
    assert report.scores == 6 + 3 * 2  # "all" on every trace; "capitals" (2 scores) on 3

    series = client.online_rules.scores(bucket_s=60)
    by_name = {s.name: s for s in series.series}
    assert set(by_name) == {"says-paris", "short"}
    [paris] = by_name["says-paris"].points
    assert (paris.count, paris.passed, paris.failed, paris.errors) == (9, 4, 5, 0)
    assert paris.pass_rate == pytest.approx(4 / 9)
    assert paris.mean == pytest.approx(4 / 9)
    assert paris.start <= datetime.now(UTC)
    assert datetime.now(UTC) - paris.start < timedelta(minutes=10)
    [cost] = series.judge_cost
    assert (cost.scores, cost.cost) == (12, 0.0)

    only = client.online_rules.scores(rule="capitals", bucket_s=60)
    assert only.rule_id == rule.id
    counts = {s.name: s.points[0].count for s in only.series}
    assert counts == {"says-paris": 3, "short": 3}
    later = client.online_rules.scores(since=datetime.now(UTC) + timedelta(hours=1))
    assert later.series == []
    scored = client.scores.list(trace_id="t1", source="online").items
    assert {s.metadata["online_rule_id"] for s in scored} == {rule.id, other.id}

    client.online_rules.delete(other.id)
    assert [r.name for r in client.online_rules.list().items] == ["capitals"]
    assert store.scores.list(trace_id="t0", source="online")  # its scores stay


@pytest.mark.usefixtures("saved")
async def test_async_sdk_rules(aclient: AsyncAssay) -> None:
    rule = await aclient.online_rules.create("a", [{"evaluator": "short", "version": 1}])
    assert rule.evaluators[0].version == 1
    changed = await aclient.online_rules.update("a", sample_rate=0.25, filter={"model": "gpt"})
    assert (changed.sample_rate, changed.filter.model) == (0.25, "gpt")
    assert (await aclient.online_rules.disable("a")).enabled is False
    assert [r.id for r in (await aclient.online_rules.list()).items] == [rule.id]
    scores = await aclient.online_rules.scores(rule="a")
    assert scores.series == []
    await aclient.online_rules.delete("a")
    with pytest.raises(NotFound):
        await aclient.online_rules.get("a")


@pytest.mark.usefixtures("saved")
def test_cli_online_commands(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from assay.cli.main import app
    from assay.store.projects import get_project

    monkeypatch.setenv("ASSAY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ASSAY_HOME", str(settings.home))
    monkeypatch.setenv("ASSAY_PROJECT", get_project(store.db, store.project_id).name)
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(app, ["online", *args])

    made = cli(
        "create", "capitals", "-e", "says-paris", "-e", "short@1",
        "--trace-name", "chat-*", "--tag", "prod", "--metadata", "tier=pro",
        "--no-errors", "--sample-rate", "0.5",
        "--map", "says-paris:output=trace.generation.output", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    rule = store.online_rules.get("capitals")
    assert rule.filter.model_dump(exclude_defaults=True) == {
        "name": "chat-*",
        "tags": ["prod"],
        "metadata": {"tier": "pro"},
        "has_error": False,
    }
    assert [(e.evaluator, e.version, e.mapping) for e in rule.evaluators] == [
        ("says-paris", None, {"output": "trace.generation.output"}),
        ("short", 1, {}),
    ]
    bad = cli("create", "x", "-e", "short", "--trace-name", "a[b")
    assert "unclosed '['" in str(bad.exception)
    assert "'ghost' not found" in str(cli("create", "x", "-e", "ghost").exception)
    unmapped = cli("create", "x", "-e", "short", "--map", "other:output=output")
    assert "--map" in str(unmapped.exception)
    assert cli("disable", "capitals").exit_code == 0
    assert store.online_rules.get("capitals").enabled is False
    listed = cli("list", "--json")
    assert [r["name"] for r in json.loads(listed.output)] == ["capitals"]
    assert cli("scores", "--rule", "capitals").exit_code == 0
    assert cli("delete", "capitals").exit_code == 0
    assert store.online_rules.list() == []
