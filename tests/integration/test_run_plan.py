"""``assay plan``, ``GET /datasets/{id}/plan/`` and ``client.datasets.plan``: variance
components from stored runs, and cost and time estimates checked against a real run on the
fake provider (judge calls included)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import assay
from assay.analysis import planning
from assay.client import Assay, AsyncAssay
from assay.domain import DatasetCreate, ItemCreate
from assay.engine import llm_judge
from assay.scorers import exact_match
from assay.store import Store
from assay.targets import PriceTable, PromptTarget
from tests.fakes.provider import FakeProvider
from tests.integration.test_gate_cli import Cli

N = 24


def _dataset(store: Store, name: str = "qa") -> None:
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(
        name,
        [
            ItemCreate(input={"q": f"item {i} " + "word " * (i % 4)}, expected_output=f"{i}")
            for i in range(N)
        ],
    )


def _judge_reply(text: str) -> str:
    if "[RESPONSE]" in text:  # the judge: passes answers mentioning a 1
        ok = "1" in text.split("[RESPONSE]")[1].split("Choose")[0]
        return json.dumps({"reason": "checked", "choice": "A" if ok else "C"})
    return "echo: " + text


@pytest.fixture
def priced(store: Store, fake: FakeProvider) -> dict[str, Any]:
    """A pilot run with two trials: a prompt target priced as gpt-4o-mini and a judge."""
    _dataset(store)
    fake.reply = _judge_reply
    target = PromptTarget(
        model="gpt-4o-mini", prompt="{{ q }}", base_url=fake.openai_url, api_key="k"
    )
    judge = llm_judge(
        model="judge", base_url=fake.openai_url, api_key="k", price={"input": 1, "output": 2}
    )
    pilot = assay.evaluate("qa", target, [judge], store=store, trials=2, name="pilot")
    return {"pilot": pilot.id, "target": target, "judge": judge}


def test_cost_estimate_equals_the_next_run(
    store: Store, priced: dict[str, Any], client: Assay
) -> None:
    plan = client.datasets.plan("qa", model="openai:gpt-4o-mini", concurrency=4)
    assert plan.runs == [priced["pilot"]]
    assert plan.items == N
    assert plan.trials == 2
    assert plan.cost.basis == "price_table"
    assert plan.cost.model == "openai:gpt-4o-mini"
    assert plan.cost.judge_cost > 0
    assert plan.time.concurrency == 4
    assert plan.time.seconds is not None
    assert plan.time.seconds > 0
    again = assay.evaluate(
        "qa", priced["target"], [priced["judge"]], store=store, trials=2, name="again"
    )
    summary = store.experiments.summary(again.id)
    judge_spent = sum(
        s.cost or 0.0 for r in store.experiments.iter_results(again.id) for s in r.scores
    )
    assert summary.judge_cost == pytest.approx(judge_spent)
    assert summary.judge_cost > 0
    assert summary.judge_latency_ms > 0
    assert plan.cost.target_cost == pytest.approx(summary.total_cost, rel=1e-9)
    assert plan.cost.judge_cost == pytest.approx(summary.judge_cost, rel=1e-9)
    assert plan.cost.total_cost == pytest.approx(summary.total_cost + summary.judge_cost)
    price = PriceTable.load().price("openai", "gpt-4o-mini")
    assert price is not None
    tokens = (summary.tokens_in, summary.tokens_out)
    assert summary.total_cost == pytest.approx(price.cost(*tokens))
    # Half the items and one trial: a quarter of the calls.
    small = client.datasets.plan("qa", model="gpt-4o-mini", items=N // 2, trials=1)
    assert small.cost.target_cost == pytest.approx(summary.total_cost / 4, rel=1e-9)
    # Without a model the cost per call recorded is used: the same run, the same cost.
    observed = client.datasets.plan("qa", pilot=again.id)
    assert observed.cost.basis == "observed"
    assert observed.cost.target_cost == pytest.approx(summary.total_cost, rel=1e-9)


def test_variance_components_from_run_pairs(store: Store, client: Assay, cli: Cli) -> None:
    _dataset(store)

    def a(x: dict[str, str]) -> str:
        return x["q"].split()[1]

    def b(x: dict[str, str]) -> str:
        k = int(x["q"].split()[1])
        return str(k) if k % 3 else "?"

    def c(x: dict[str, str]) -> str:
        k = int(x["q"].split()[1])
        return str(k) if k % 4 else "?"

    ids = [
        assay.evaluate("qa", f, [exact_match()], store=store, name=f.__name__).id for f in (a, b, c)
    ]
    plan = client.datasets.plan("qa", difference=10)
    assert plan.runs == ids[::-1]
    rate = next(m for m in plan.metrics if m.metric == "passed")
    assert rate.source == "run_pairs"
    assert rate.pairs == 2
    assert rate.within == 0  # one trial: nothing to separate
    outcome = {
        f.__name__: np.array([1.0 if f({"q": f"item {i}"}) == str(i) else 0.0 for i in range(N)])
        for f in (a, b, c)
    }
    expected = np.mean(
        [
            np.var(outcome["b"] - outcome["a"], ddof=1),
            np.var(outcome["c"] - outcome["b"], ddof=1),
        ]
    )
    assert rate.tau2 == pytest.approx(expected)
    assert rate.detectable == pytest.approx(planning.minimum_detectable_difference(expected, N))
    assert rate.items_needed == planning.items_needed(expected, 0.10)
    assert rate.trials_needed is None  # item differences alone are too large at N items
    assert rate.power == pytest.approx(planning.predicted_power(expected, N, 0.10))
    assert {m.metric for m in plan.metrics} == {"passed", "exact_match"}
    assert plan.cost.basis == "observed"
    assert plan.cost.target_cost is None  # functions record no cost
    shown = cli.inproc("plan", "qa", "--difference", "10", "--items", "200")
    assert shown.exit_code == 0, shown.output
    assert "Plan for qa: 200 items x 1 trial" in shown.output
    assert "run" in shown.output  # the source column, cut to the terminal's width
    assert "Estimated cost: unknown" in shown.output
    as_json = json.loads(cli.inproc("plan", "qa", "--json", "--metric", "passed").output)
    assert [m["metric"] for m in as_json["metrics"]] == ["passed"]
    assert as_json["metrics"][0]["source"] == "run_pairs"


@pytest.fixture
def cli(store: Store, settings: Any) -> Cli:
    return Cli(store, settings)


def test_plan_errors(store: Store, http: TestClient, cli: Cli) -> None:
    _dataset(store, "empty")
    got = http.get("/api/v1/datasets/empty/plan/")
    assert got.status_code == 422
    error = got.json()["error"]
    assert "no completed run of dataset 'empty'; pass --pilot RUN" in error["message"]
    assert error["details"]["field"] == "pilot"
    shown = cli("plan", "empty")
    assert shown.returncode == 1
    assert "no completed run of dataset 'empty'" in shown.stderr
    assert http.get("/api/v1/datasets/missing/plan/").status_code == 404
    assert http.get("/api/v1/datasets/empty/plan/", params={"items": 1}).status_code == 422
    assert http.get("/api/v1/datasets/empty/plan/", params={"power": 1.5}).status_code == 422
    run = assay.evaluate("empty", lambda x: "0", [exact_match()], store=store)
    bad = http.get("/api/v1/datasets/empty/plan/", params={"model": "no-such-model"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "model"
    wrong = http.get("/api/v1/datasets/empty/plan/", params={"metric": "nope"})
    assert wrong.status_code == 422
    assert "unknown metric 'nope'" in wrong.json()["error"]["message"]
    fine = http.get("/api/v1/datasets/empty/plan/", params={"pilot": run.id})
    assert fine.status_code == 200, fine.text
    assert fine.json()["metrics"][0]["source"] == "pilot"


async def test_async_plan(store: Store, aclient: AsyncAssay) -> None:
    _dataset(store)
    assay.evaluate("qa", lambda x: x["q"].split()[1], [exact_match()], store=store)
    plan = await aclient.datasets.plan("qa", difference=5, trials=3)
    assert plan.trials == 3
    assert plan.metrics[0].source == "single_run"
    assert any("one run only" in n for n in plan.notes)
