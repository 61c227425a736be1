"""The SDK's compare, gate and compare_prompt_versions return the records the API serves."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from assay.client import Assay, AsyncAssay
from assay.config import Settings
from assay.domain import (
    PASS_METRIC,
    Comparison,
    ComparisonRow,
    Contrast,
    DatasetItemBrief,
    ExperimentBrief,
    ExperimentComparison,
    GateCheck,
    GateVerdict,
    ItemOutcome,
    LinkedExperiment,
    MetricComparison,
    PromptCreate,
    PromptVersionComparison,
    RegressionPolicy,
    RunInfo,
    Verdict,
)
from assay.errors import AssayError, Conflict
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import prompt_body, run_worker


def _bodies(qa: str, fake: FakeProvider) -> list[dict[str, Any]]:
    bodies = []
    for model, tag, wanted in (("gpt-4o", "baseline", "echo"), ("gpt-4o-mini", None, "nope")):
        # The second run completes, but its scorer fails every answer: all items regress.
        scorers = [{"name": "contains", "params": {"value": wanted}}]
        body = prompt_body(qa, fake, name=f"{model} on QA", run_tag=tag, scorers=scorers)
        body["config"]["model"] = model
        bodies.append(body)
    return bodies


def two_runs(
    client: Assay, store: Store, settings: Settings, qa: str, fake: FakeProvider
) -> list[str]:
    ids = []
    for body in _bodies(qa, fake):
        created = client.experiments.create(**body)
        client.experiments.start(created.id)
        ids.append(created.id)
    run_worker(store, settings)
    return ids


def check_comparison(compared: ExperimentComparison, a: str, b: str) -> None:
    assert isinstance(compared, ExperimentComparison)
    assert set(compared.experiments) == {a, b}
    assert isinstance(compared.experiments[a], ExperimentBrief)
    assert compared.experiments[a].name == "gpt-4o on QA"
    assert compared.experiments[b].config["model"] == "gpt-4o-mini"
    assert compared.experiments[a].status == "completed"
    assert (compared.total_items, compared.offset) == (3, 0)
    row = compared.comparisons[0]
    assert isinstance(row, ComparisonRow)
    assert isinstance(row.dataset_item, DatasetItemBrief)
    assert row.dataset_item.input == {"query": "reset password"}
    assert row.results[a]["output"] == "echo: Answer: reset password"
    assert compared.comparisons[1].results[b]["passed"] is False
    stats = compared.statistics
    assert isinstance(stats, Comparison)
    assert stats.baseline_id == a
    assert all(isinstance(r, RunInfo) for r in stats.runs)
    assert [r.run_id for r in stats.runs] == [a, b]
    assert stats.regressions == {b: 3}
    assert [m.name for m in stats.metrics] == [PASS_METRIC, "contains"]
    contains = stats.metric("contains")
    assert isinstance(contains, MetricComparison)
    assert contains.means == {a: 1.0, b: 0.0}
    contrast = contains.contrast(b)
    assert isinstance(contrast, Contrast)
    assert isinstance(contrast.verdict, Verdict)
    assert contrast.difference == -1.0
    # Still readable the way the SDK's plain JSON was.
    assert compared["total_items"] == 3
    assert compared["statistics"]["baseline_id"] == a


def check_gate(verdict: GateVerdict, a: str, b: str) -> None:
    assert isinstance(verdict, GateVerdict)
    assert (verdict.run_id, verdict.baseline_id) == (b, a)
    assert verdict.baseline_name == "gpt-4o on QA"
    # Every item regressed, but three items cannot show it is significant: the default
    # policy lets an inconclusive drop through.
    assert (verdict.passed, verdict.reasons) == (True, [])
    assert all(isinstance(c, GateCheck) for c in verdict.checks)
    drop = next(c for c in verdict.checks if c.name == f"drop:{PASS_METRIC}")
    assert (drop.observed, drop.limit) == (1.0, 0.0)
    assert "not significant" in drop.message
    assert isinstance(verdict.policy, RegressionPolicy)
    assert verdict.policy == RegressionPolicy()
    assert isinstance(verdict.comparison, Comparison)
    assert verdict.comparison.baseline_id == a
    assert verdict.means[PASS_METRIC] == 0.0
    assert len(verdict.items) == 3
    assert all(isinstance(i, ItemOutcome) and i.regressed for i in verdict.items)
    assert verdict["passed"] is True
    assert verdict["checks"][0]["name"] == "min_items"
    with pytest.raises(KeyError):
        verdict["nope"]


def test_compare_and_gate_return_records(
    client: Assay,
    http: TestClient,
    store: Store,
    api_settings: Settings,
    qa: str,
    fake: FakeProvider,
) -> None:
    a, b = two_runs(client, store, api_settings, qa, fake)

    compared = client.experiments.compare([a, b])
    check_comparison(compared, a, b)
    served = http.post("/api/v1/experiments/compare/", json={"experiment_ids": [a, b]}).json()
    assert compared.model_dump(mode="json") == served  # nothing lost on the way
    paged = client.experiments.compare([a, b], offset=2, limit=5)
    assert [r.dataset_item.input for r in paged.comparisons] == [{"query": "contact support"}]
    assert paged.total_items == 3

    verdict = client.experiments.gate(b, baseline=a)
    check_gate(verdict, a, b)
    served = http.get(f"/api/v1/experiments/{b}/gate/", params={"baseline": a}).json()
    assert verdict.model_dump(mode="json") == served
    tagged = client.experiments.gate(b, baseline_tag="baseline")
    assert tagged.baseline_id == a
    alone = client.experiments.gate(a)
    assert (alone.passed, alone.baseline_id, alone.comparison) == (True, None, None)

    pending = client.experiments.create(**prompt_body(qa, fake))
    with pytest.raises(Conflict):
        client.experiments.gate(pending.id)


def test_compare_prompt_versions_returns_the_linked_pair(
    client: Assay, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    store.prompts.create(
        PromptCreate(name="support-system-prompt", template="V2 {{ input.query }}")
    )
    pair = client.experiments.compare_prompt_versions(
        qa,
        "support-system-prompt",
        1,
        2,
        model="gpt-4o-mini",
        base_url=fake.openai_url,
        scorers=[{"name": "contains", "params": {"value": "V2"}}],
    )
    assert isinstance(pair, PromptVersionComparison)
    assert isinstance(pair.experiment_a, LinkedExperiment)
    assert (pair.experiment_a.name, pair.experiment_a.version) == (
        "support-system-prompt-v1-vs-v2-a",
        1,
    )
    assert (pair.experiment_b.name, pair.experiment_b.version) == (
        "support-system-prompt-v1-vs-v2-b",
        2,
    )
    a, b = pair.experiment_a.id, pair.experiment_b.id
    assert pair.compare_url == f"/api/v1/experiments/compare/?experiment_ids={a},{b}"
    assert pair["experiment_b"]["id"] == b
    run_worker(store, api_settings)
    compared = client.experiments.compare([a, b])
    assert compared.statistics.improvements == {b: 3}
    contains = compared.statistics.metric("contains")
    assert contains is not None
    assert contains.means == {a: 0.0, b: 1.0}


async def test_async_compare_gate_and_prompt_versions(
    aclient: AsyncAssay, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    ids = []
    for body in _bodies(qa, fake):
        created = await aclient.experiments.create(**body)
        await aclient.experiments.start(created.id)
        ids.append(created.id)
    await asyncio.to_thread(run_worker, store, api_settings)
    a, b = ids

    check_comparison(await aclient.experiments.compare([a, b]), a, b)
    check_gate(await aclient.experiments.gate(b, baseline=a), a, b)

    store.prompts.create(
        PromptCreate(name="support-system-prompt", template="V2 {{ input.query }}")
    )
    pair = await aclient.experiments.compare_prompt_versions(
        qa, "support-system-prompt", 1, 2, model="gpt-4o", base_url=fake.openai_url
    )
    assert isinstance(pair, PromptVersionComparison)
    assert (pair.experiment_a.version, pair.experiment_b.version) == (1, 2)
    await asyncio.to_thread(run_worker, store, api_settings)
    compared = await aclient.experiments.compare([pair.experiment_a.id, pair.experiment_b.id])
    assert isinstance(compared.statistics.runs[0], RunInfo)
    cells = compared.comparisons[0].results
    assert cells[pair.experiment_b.id]["output"] == "echo: V2 reset password"


def test_fields_from_a_newer_server_are_ignored_and_a_wrong_shape_is_an_error(
    client: Assay,
    http: TestClient,
    store: Store,
    api_settings: Settings,
    qa: str,
    fake: FakeProvider,
) -> None:
    a, b = two_runs(client, store, api_settings, qa, fake)
    served = http.get(f"/api/v1/experiments/{b}/gate/", params={"baseline": a}).json()
    newer = {**served, "added_later": 1, "checks": [{**c, "weight": 2} for c in served["checks"]]}
    answers = iter([httpx.Response(200, json=newer), httpx.Response(200, json={"passed": True})])
    mock = httpx.Client(
        transport=httpx.MockTransport(lambda request: next(answers)), base_url="http://assay.test"
    )
    sdk = Assay(base_url="http://assay.test", http_client=mock, max_retries=0)
    verdict = sdk.experiments.gate(b, baseline=a)
    assert verdict.model_dump(mode="json") == served
    with pytest.raises(AssayError, match="unexpected response"):
        sdk.experiments.gate(b, baseline=a)
